"""Field-boundary segmentation (PRUE / Fields of The World): configs, Lightning task and training."""
