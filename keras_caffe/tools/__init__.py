"""What the commands run: timing, verify, the reference dump, info, the demo and the README
table.  Library code with no command-line parsing; ``keras_caffe.cli`` calls it."""
