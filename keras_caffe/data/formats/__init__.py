"""Caffe's file formats: Datum, LMDB/LevelDB, HDF5, list files, and OpenCV's image resize."""
