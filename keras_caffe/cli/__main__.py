"""``python -m keras_caffe.cli``: the ``keras-caffe`` command."""

import sys

from . import main

sys.exit(main())
