"""Small nets in the shape of the forks' published ones (our own, with filler weights):
py-faster-rcnn's end2end TEST net (conv -> RPN -> Python proposal layer -> ROIPooling ->
fc -> cls_prob / bbox_pred), SegNet's encoder-decoder (BN, pooling masks, Upsample) and
PSPNet's pyramid pooling (BN, Interp by size, zoom and shrink)."""

FASTER_RCNN = """
name: "tiny_faster_rcnn"
input: "data"
input_shape { dim: 1 dim: 3 dim: 64 dim: 80 }
input: "im_info"
input_shape { dim: 1 dim: 3 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 stride: 2 pad: 1
    weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 16 kernel_size: 3 stride: 2 pad: 1
    weight_filler { type: "gaussian" std: 0.2 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "rpn_conv/3x3" type: "Convolution" bottom: "conv2" top: "rpn/output"
  convolution_param { num_output: 16 kernel_size: 3 pad: 1 stride: 1
    weight_filler { type: "gaussian" std: 0.2 } bias_filler { type: "constant" value: 0 } } }
layer { name: "rpn_relu/3x3" type: "ReLU" bottom: "rpn/output" top: "rpn/output" }
layer { name: "rpn_cls_score" type: "Convolution" bottom: "rpn/output" top: "rpn_cls_score"
  convolution_param { num_output: 18 kernel_size: 1 pad: 0 stride: 1
    weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "constant" value: 0 } } }
layer { name: "rpn_bbox_pred" type: "Convolution" bottom: "rpn/output" top: "rpn_bbox_pred"
  convolution_param { num_output: 36 kernel_size: 1 pad: 0 stride: 1
    weight_filler { type: "gaussian" std: 0.05 } bias_filler { type: "constant" value: 0 } } }
layer { bottom: "rpn_cls_score" top: "rpn_cls_score_reshape" name: "rpn_cls_score_reshape"
  type: "Reshape" reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 0 } } }
layer { name: "rpn_cls_prob" type: "Softmax" bottom: "rpn_cls_score_reshape" top: "rpn_cls_prob" }
layer { name: 'rpn_cls_prob_reshape' type: 'Reshape' bottom: 'rpn_cls_prob'
  top: 'rpn_cls_prob_reshape' reshape_param { shape { dim: 0 dim: 18 dim: -1 dim: 0 } } }
layer { name: 'proposal' type: 'Python' bottom: 'rpn_cls_prob_reshape' bottom: 'rpn_bbox_pred'
  bottom: 'im_info' top: 'rois'
  python_param { module: 'rpn.proposal_layer' layer: 'ProposalLayer'
                 param_str: "'feat_stride': 4\\n'scales': !!python/tuple [1, 2, 4]" } }
layer { name: "roi_pool_conv2" type: "ROIPooling" bottom: "conv2" bottom: "rois"
  top: "roi_pool_conv2" roi_pooling_param { pooled_w: 3 pooled_h: 3 spatial_scale: 0.25 } }
layer { name: "fc6" type: "InnerProduct" bottom: "roi_pool_conv2" top: "fc6"
  inner_product_param { num_output: 32 weight_filler { type: "gaussian" std: 0.1 }
                        bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6"
  dropout_param { dropout_ratio: 0.5 scale_train: false } }
layer { name: "cls_score" type: "InnerProduct" bottom: "fc6" top: "cls_score"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "bbox_pred" type: "InnerProduct" bottom: "fc6" top: "bbox_pred"
  inner_product_param { num_output: 20 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "cls_prob" type: "Softmax" bottom: "cls_score" top: "cls_prob" }
"""

SEGNET = """
name: "tiny_segnet"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 12 dim: 14 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
layer { name: "conv1_bn" type: "BN" bottom: "conv1" top: "conv1"
  bn_param { bn_mode: INFERENCE scale_filler { type: "constant" value: 1 }
             shift_filler { type: "constant" value: 0.001 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" top: "pool1_mask"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
layer { name: "conv2_bn" type: "BN" bottom: "conv2" top: "conv2"
  bn_param { bn_mode: INFERENCE scale_filler { type: "constant" value: 1 }
             shift_filler { type: "constant" value: 0.001 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" top: "pool2_mask"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "upsample2" type: "Upsample" bottom: "pool2" bottom: "pool2_mask" top: "pool2_D"
  upsample_param { scale: 2 pad_out_w: true } }
layer { name: "conv2_D" type: "Convolution" bottom: "pool2_D" top: "conv2_D"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
layer { name: "conv2_D_bn" type: "BN" bottom: "conv2_D" top: "conv2_D"
  bn_param { bn_mode: INFERENCE scale_filler { type: "constant" value: 1 }
             shift_filler { type: "constant" value: 0.001 } } }
layer { name: "relu2_D" type: "ReLU" bottom: "conv2_D" top: "conv2_D" }
layer { name: "upsample1" type: "Upsample" bottom: "conv2_D" bottom: "pool1_mask" top: "pool1_D"
  upsample_param { upsample_h: 12 upsample_w: 14 } }
layer { name: "conv1_D" type: "Convolution" bottom: "pool1_D" top: "conv1_D"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
layer { name: "prob" type: "Softmax" bottom: "conv1_D" top: "prob" }
"""

PSPNET = """
name: "tiny_pspnet"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 33
input_dim: 33
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 stride: 2 pad: 1 bias_term: false
                      weight_filler { type: "msra" } } }
layer { name: "conv1/bn" type: "BN" bottom: "conv1" top: "conv1"
  param { lr_mult: 1 decay_mult: 0 } param { lr_mult: 1 decay_mult: 0 }
  param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 }
  bn_param { slope_filler { type: "constant" value: 1 } bias_filler { type: "constant" value: 0 }
             frozen: true momentum: 0.95 } }
layer { name: "conv1/relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: AVE kernel_size: 17 stride: 17 } }
layer { name: "pool1_conv" type: "Convolution" bottom: "pool1" top: "pool1_conv"
  convolution_param { num_output: 4 kernel_size: 1 bias_term: false weight_filler { type: "msra" } } }
layer { name: "pool1_conv/bn" type: "BN" bottom: "pool1_conv" top: "pool1_conv"
  bn_param { frozen: true slope_filler { type: "constant" value: 1 } } }
layer { name: "pool1_interp" type: "Interp" bottom: "pool1_conv" top: "pool1_interp"
  interp_param { height: 17 width: 17 } }
layer { name: "pool2" type: "Pooling" bottom: "conv1" top: "pool2"
  pooling_param { pool: AVE kernel_size: 9 stride: 8 } }
layer { name: "pool2_conv" type: "Convolution" bottom: "pool2" top: "pool2_conv"
  convolution_param { num_output: 4 kernel_size: 1 bias_term: false weight_filler { type: "msra" } } }
layer { name: "pool2_interp" type: "Interp" bottom: "pool2_conv" top: "pool2_interp"
  interp_param { zoom_factor: 16 } }
layer { name: "concat" type: "Concat" bottom: "conv1" bottom: "pool1_interp" bottom: "pool2_interp"
  top: "concat" }
layer { name: "conv5" type: "Convolution" bottom: "concat" top: "conv5"
  convolution_param { num_output: 3 kernel_size: 3 pad: 1 weight_filler { type: "msra" } } }
layer { name: "conv5/dropout" type: "Dropout" bottom: "conv5" top: "conv5"
  dropout_param { dropout_ratio: 0.1 } }
layer { name: "conv5_interp" type: "Interp" bottom: "conv5" top: "conv5_interp"
  interp_param { zoom_factor: 2 } }
layer { name: "conv5_small" type: "Interp" bottom: "conv5" top: "conv5_small"
  interp_param { shrink_factor: 4 zoom_factor: 3 pad_beg: -1 pad_end: -1 } }
"""
