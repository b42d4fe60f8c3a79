"""Generated photos with exact labels: plants of known shape on real soil, and lab-style composites.

- :mod:`~agriseg.crop.scenes.sources`: soil canvases and plant cut-outs taken from labelled field photos;
- :mod:`~agriseg.crop.scenes.shapes`: synthetic plants (discs, ellipses, lobed and stemmed leaves) of known
  area on real soil, for measuring how far predicted outlines sit from the true edge;
- :mod:`~agriseg.crop.scenes.lab`: cut-out plants on phenotyping-lab scenes (white, grey, blue and black
  backgrounds, pots, trays, frames, labels, shadows, reflections) and vegetation-free frames.
"""
