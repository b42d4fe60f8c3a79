#!/usr/bin/env python
"""Write synthetic chips in the Fields of The World layout (wraps ``agriseg fields make-synthetic``).

python scripts/make_fake_ftw.py -o /tmp/ftw_synth --countries austria:300,kenya:40 --size 128
"""

from agriseg.cli.fields_train import make_synthetic

if __name__ == "__main__":
    make_synthetic()
