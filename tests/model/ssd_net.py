"""A small SSD deploy net in the SSD fork's own shape: what examples/ssd/ssd_pascal.py and
python/caffe/model_libs.py's CreateMultiBoxHead write (weiliu89/caffe, branch ssd), scaled
down -- two source maps (the first L2-normalized with Normalize), a 3x3 loc and conf conv on
each, Permute 0 2 3 1 and Flatten, a PriorBox on each source with the image as second bottom
(min/max size, aspect ratios with flip, 4 variances, step), Concat of the locs and confs on
axis 1 and of the priors on axis 2, the conf Reshape (0, -1, classes) / Softmax axis 2 /
Flatten, and DetectionOutput with the script's det_out_param (nms 0.45, top_k 400,
keep_top_k 200, confidence_threshold 0.01, CENTER_SIZE), save_output_param included (the
fork's deploy.prototxt keeps it; nothing may be written)."""

from __future__ import annotations

CLASSES = 4


def _head(source, min_size, max_size, ratios, step, priors_per_cell):
    ars = " ".join(f"aspect_ratio: {a}" for a in ratios)
    text = ""
    for kind, outputs in (("loc", priors_per_cell * 4), ("conf", priors_per_cell * CLASSES)):
        name = f"{source}_mbox_{kind}"
        text += f"""
layer {{ name: "{name}" type: "Convolution" bottom: "{source}" top: "{name}"
  param {{ lr_mult: 1 decay_mult: 1 }} param {{ lr_mult: 2 decay_mult: 0 }}
  convolution_param {{ num_output: {outputs} pad: 1 kernel_size: 3 stride: 1
    weight_filler {{ type: "gaussian" std: 0.03 }} bias_filler {{ type: "constant" value: 0 }} }} }}
layer {{ name: "{name}_perm" type: "Permute" bottom: "{name}" top: "{name}_perm"
  permute_param {{ order: 0 order: 2 order: 3 order: 1 }} }}
layer {{ name: "{name}_flat" type: "Flatten" bottom: "{name}_perm" top: "{name}_flat"
  flatten_param {{ axis: 1 }} }}"""
    return text + f"""
layer {{ name: "{source}_mbox_priorbox" type: "PriorBox" bottom: "{source}" bottom: "data"
  top: "{source}_mbox_priorbox"
  prior_box_param {{ min_size: {min_size} max_size: {max_size} {ars} flip: true clip: false
    variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: {step} offset: 0.5 }} }}"""


SSD_DEPLOY = f"""name: "SSD_mini_deploy"
input: "data"
input_shape {{ dim: 2 dim: 3 dim: 64 dim: 64 }}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param {{ num_output: 8 pad: 1 kernel_size: 3 stride: 4
    weight_filler {{ type: "xavier" }} bias_filler {{ type: "constant" value: 0.1 }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param {{ num_output: 8 pad: 1 kernel_size: 3 stride: 2
    weight_filler {{ type: "xavier" }} bias_filler {{ type: "constant" value: 0.1 }} }} }}
layer {{ name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }}
layer {{ name: "conv1_norm" type: "Normalize" bottom: "conv1" top: "conv1_norm"
  norm_param {{ across_spatial: false scale_filler {{ type: "constant" value: 20 }}
    channel_shared: false }} }}
{_head("conv1_norm", 16, 32, [2], 4, 4)}
{_head("conv2", 32, 48, [2, 3], 8, 6)}
layer {{ name: "mbox_loc" type: "Concat" bottom: "conv1_norm_mbox_loc_flat"
  bottom: "conv2_mbox_loc_flat" top: "mbox_loc" concat_param {{ axis: 1 }} }}
layer {{ name: "mbox_conf" type: "Concat" bottom: "conv1_norm_mbox_conf_flat"
  bottom: "conv2_mbox_conf_flat" top: "mbox_conf" concat_param {{ axis: 1 }} }}
layer {{ name: "mbox_priorbox" type: "Concat" bottom: "conv1_norm_mbox_priorbox"
  bottom: "conv2_mbox_priorbox" top: "mbox_priorbox" concat_param {{ axis: 2 }} }}
layer {{ name: "mbox_conf_reshape" type: "Reshape" bottom: "mbox_conf" top: "mbox_conf_reshape"
  reshape_param {{ shape {{ dim: 0 dim: -1 dim: {CLASSES} }} }} }}
layer {{ name: "mbox_conf_softmax" type: "Softmax" bottom: "mbox_conf_reshape"
  top: "mbox_conf_softmax" softmax_param {{ axis: 2 }} }}
layer {{ name: "mbox_conf_flatten" type: "Flatten" bottom: "mbox_conf_softmax"
  top: "mbox_conf_flatten" flatten_param {{ axis: 1 }} }}
layer {{ name: "detection_out" type: "DetectionOutput" bottom: "mbox_loc"
  bottom: "mbox_conf_flatten" bottom: "mbox_priorbox" top: "detection_out"
  include {{ phase: TEST }}
  detection_output_param {{ num_classes: {CLASSES} share_location: true background_label_id: 0
    nms_param {{ nms_threshold: 0.45 top_k: 400 }}
    save_output_param {{ output_directory: "ssd_results/main" output_name_prefix: "comp4_det_test_"
      output_format: "VOC" label_map_file: "labelmap_voc.prototxt"
      name_size_file: "test_name_size.txt" num_test_image: 4952 }}
    code_type: CENTER_SIZE keep_top_k: 200 confidence_threshold: 0.01 }} }}
"""

#: Parameters of SSD_DEPLOY's DetectionOutput, as CaffeDetectionOutput's arguments.
DETECTION = dict(num_classes=CLASSES, nms_threshold=0.45, top_k=400, keep_top_k=200,
                 confidence_threshold=0.01, code_type="CENTER_SIZE")
#: The priors: (map size, min, max, ratios, step) of each source.
PRIORS = [(16, 16, 32, (2.0,), 4), (8, 32, 48, (2.0, 3.0), 8)]
