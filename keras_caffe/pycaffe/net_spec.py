"""``caffe.net_spec`` is not available yet: it comes with keras-caffe's next step (NetSpec,
``caffe.draw`` and ``coord_map``)."""

raise ImportError("caffe.net_spec is not available yet in keras-caffe: it comes with the next step "
                  "(NetSpec, caffe.draw and coord_map); write the prototxt by hand until then")
