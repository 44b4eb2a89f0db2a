"""The catalogue's data: fields that Caffe forks define and keras-caffe's schema does not.

Made by reading each fork's own ``src/caffe/proto/caffe.proto`` (the forks and branches are
listed in :data:`keras_caffe.proto.fork_fields.FORKS`) and keeping every field of a message our
schema has that our schema lacks.  A fork's new message needs no entry: the field that holds
it is the unknown one, and its whole value is skipped with it.

One message per unindented line, then one field per indented line::

    field  fork=number:type ...  reason [| note]

``type`` ends in ``*`` for a repeated field; forks may give a field different numbers, and
each is recorded.  ``reason`` is a key of :data:`keras_caffe.proto.fork_fields.REASONS`
(whether ignoring the field changes what a net computes, and why); the note says more where
one reason does not say it all.
"""

TABLE = """
AccuracyParameter
  min_is_better windows=4:bool computes | what Accuracy counts
AnnotatedDataParameter
  difficult_label_warmup yolo=11:bool data
  seg_resize_height yolo=10:int32 data
  seg_resize_width yolo=9:int32 data
  seg_scales yolo=8:int32 data
  single_class yolo=7:bool data
  train_diffcult yolo=6:bool data
  yolo_data_jitter yolo=5:float data
  yolo_data_type yolo=4:int32 data
AnnotatedDatum
  record_id nvidia=4:uint32 data
Annotation
  lanes yolo=3:LaneInfo data
BatchNormParameter
  bias_filler nvidia=6:FillerParameter intel,windows=8:FillerParameter filler
  bias_term intel=6:bool computes | BatchNorm with scale and bias blobs
  disable_mean windows=4:bool computes
  disable_variance windows=5:bool computes
  engine nvidia,windows=15:Engine intel=4:Engine engine
  filler intel=7:FillerParameter filler
  relu intel=10:bool computes | a fused ReLU
  scale_bias nvidia=7:bool computes | BatchNorm with scale and bias blobs
  scale_filler nvidia=5:FillerParameter windows=7:FillerParameter filler
  stats_batch_size intel=9:uint32 computes | sub-batch statistics without use_global_stats
  update_global_stats pspnet,deeplab=4:bool train_only | only TRAIN updates the running statistics
  use_weight_bias intel=5:bool computes | BatchNorm with scale and bias blobs
ConcatParameter
  engine intel=3:Engine engine
  per_fla_fuse intel=4:bool computes
ConvolutionParameter
  coeff intel=23:float* computes
  conv_algorithm intel=21:string engine
  conv_algos_override nvidia=20:string engine
  cudnn_convolution_algo_seeker nvidia,windows=19:CuDNNConvolutionAlgorithmSeeker engine
  dilation_h tsn=17:uint32 computes
  dilation_w tsn=18:uint32 computes
  fusion_type intel=24:FusionType computes
  negative_slope intel=20:float computes | a fused ReLU's slope
  relu intel=19:bool computes | a fused ReLU
  shape_offset windows=20:uint32* computes
DataParameter
  cache nvidia=13:bool data
  parser_threads nvidia=12:uint32 data
  precache nvidia=16:bool data
  shuffle nvidia=14:bool intel=11:bool tsn=10:bool data
  side intel=12:uint32* data
  threads nvidia=11:uint32 data
Datum
  record_id nvidia=8:uint32 data
  seg_label yolo=8:bytes data
DropoutParameter
  engine nvidia=2:Engine engine
  random_seed nvidia=3:int64 train_only | Dropout is the identity outside TRAIN
  sqrt_scale windows=2:bool train_only | Dropout is the identity outside TRAIN
ELUParameter
  lambda nvidia=2:float computes
EltwiseParameter
  engine intel=4:Engine engine
FillerParameter
  alpha windows=9:float filler
  scale intel=9:float filler
ImageDataParameter
  balance_by windows=23:uint32 data
  balance_class windows=22:bool data
  cache nvidia=15:bool data
  dataset_share_per_node nvidia=17:float data
  face_mirror windows=20:bool data
  face_point_num windows=21:uint32 data
  face_transform windows=13:bool data
  ignore_label pspnet,deeplab=15:int32 data
  label_cut_end windows=25:uint32 data
  label_cut_start windows=24:uint32 data
  label_type pspnet,deeplab=16:LabelType data
  max_aspect_ratio windows=15:float data
  max_random_scale windows=18:float data
  max_random_shift windows=19:uint32 data
  max_rotate_angle windows=16:float data
  max_shear_ratio windows=14:float data
  min_height intel=13:uint32 data
  min_random_scale windows=17:float data
  min_width intel=14:uint32 data
  precache nvidia=16:bool data
  short_side nvidia=13:uint32 data
  threads nvidia=14:uint32 data
InnerProductParameter
  engine intel=7:Engine engine
  negative_slope intel=9:float computes | a fused ReLU's slope
  normalize windows=7:bool computes
  relu intel=8:bool computes | a fused ReLU
LayerParameter
  adaptive_bias_channel_param pspnet,deeplab=148:AdaptiveBiasChannelParameter computes
  backward_math nvidia=148:Type precision
  backward_type nvidia=146:Type precision
  batch_contrastive_loss_param windows=223:BatchContrastiveParameter loss
  batch_reduction_param tsn=162:BatchReductionParameter computes
  bias_channel_param pspnet,deeplab=149:BiasChannelParameter computes
  box_annotator_ohem_param rfcn=10000:BoxAnnotatorOHEMParameter intel=152:BoxAnnotatorOHEMParameter loss
  center_loss_param windows=211:CenterLossParameter loss
  channel_scale_param windows=237:ChannelScaleParameter computes
  confidence_penalty_loss_param windows=234:ConfidencePenaltyLossParameter loss
  cpm_transform_param openpose=147:CPMTransformationParameter data
  cudnn_math_override nvidia=150:int32 engine
  debug nvidia=149:bool debug
  dense_crf_param pspnet,deeplab=146:DenseCRFParameter computes
  detectnet_augmentation_param nvidia=6802:DetectNetAugmentationParameter data
  detectnet_groundtruth_param nvidia=6801:DetectNetGroundTruthParameter data
  domain_transform_param pspnet,deeplab=147:DomainTransformParameter computes
  eltwise_affine_param windows=205:EltwiseAffineParameter computes
  engine intel=149:string engine
  eval_detection_param intel=301:EvalDetectionParameter loss
  fcn_data_param windows=210:FCNDataParameter data
  feature_decay_loss_param windows=233:FeatureDecayLossParameter loss
  flip_param windows=212:FlipParameter computes
  focal_loss_param windows=235:FocalLossParameter loss
  forward_math nvidia=147:Type precision
  forward_type nvidia=145:Type precision
  general_contrastive_loss_param windows=215:GeneralContrastiveParameter loss
  general_triplet_loss_param windows=217:GeneralTripletParameter loss
  hotspot_param windows=208:HotspotParameter computes
  infimum_loss_param windows=229:InfimumLossParamter loss
  inner_distance_param windows=213:InnerDistanceParameter computes
  insanity_param windows=202:InsanityParameter computes
  label_specific_add_param windows=241:LabelSpecificAddParameter computes
  label_specific_affine_param windows=238:LabelSpecificAffineParameter computes
  label_specific_hard_margin_param windows=239:LabelSpecificHardMarginParameter computes
  label_specific_margin_param windows=236:LabelSpecificMarginParameter computes
  label_specific_rescale_param windows=228:LabelSpecificRescaleParameter computes
  largemargin_inner_product_param windows=227:LargeMarginInnerProductParameter computes
  local_param windows=201:LocalParameter computes
  margin_inner_product_param windows=232:MarginInnerProductParameter computes
  mat_read_param pspnet,deeplab=151:MatReadParameter data
  mat_write_param pspnet,deeplab=145:MatWriteParameter computes | MatWrite writes files
  mn_activation_param intel=151:MnActivationParameter distributed
  mn_grad_compress_param intel=156:MnParamGradCompressParameter distributed
  multinode intel=150:MultinodeLayerParameter distributed
  nca_param windows=226:NCAParameter loss
  noise_param windows=207:NoiseParameter computes | caffe-windows' Noise layer
  normalize_param windows=214:NormalizeParameter computes | caffe-windows' Normalize layer
  ordinal_regression_loss_param windows=230:OrdinalRegressionParameter loss
  pairwise_param windows=221:PairwiseParameter computes
  predict_box_param windows=209:PredictBoxParameter computes
  quantization_param intel=158:QuantizationParameter computes
  region_loss_param intel=209:RegionLossParameter yolo=600:RegionLossParameter loss
  reorg_param intel=159:ReorgParameter yolo=149:ReorgParameter computes
  resize_param windows=231:ResizeParameter computes | caffe-windows' Resize layer
  seg_accuracy_param pspnet,deeplab=144:SegAccuracyParameter loss
  seg_data_param tsn=141:SegDataParameter data
  segmentation_evaluate_param yolo=605:SegmentationEvaluateParameter loss
  smoothl1_param windows=222:SmoothL1Parameter loss
  soft_contrastive_loss_param windows=216:SoftContrastiveParameter loss
  soft_truncation_param windows=218:SoftTruncationParameter computes
  spatial_dropout_param intel=155:SpatialDropoutParameter computes
  split_param intel=208:SplitParameter computes
  sub_region_param windows=206:SubRegionParameter computes
  triplet_loss_param windows=203:TripletLossParameter loss
  trt_param nvidia=152:TRTParameter computes
  truncation_param windows=225:TruncationParameter computes
  unique_label_param pspnet,deeplab=150:UniqueLabelParameter computes
  yolo_detection_output_param yolo=601:YoloDetectionOutputParameter computes
  yolo_seg_param yolo=604:YoloSegParameter computes
  yolov3_detection_output_param yolo=602:Yolov3DetectionOutputParameter computes
  yolov3_param yolo=603:Yolov3Parameter loss
LossParameter
  label_smoothing nvidia=4:float intel=5:float loss
  pre_fixed_normalizer rfcn,intel=4:float loss
MemoryDataParameter
  transpose windows=5:bool data
MultiBoxLossParameter
  ignore_difficult_gt nvidia=24:bool loss
NetParameter
  bn_stats_batch_size intel=11:uint32 computes | every BatchNorm's stats_batch_size
  compile_net_state intel=10:CompileNetState computes | Intel Caffe's record of fused layers
  default_backward_math nvidia=14:Type precision
  default_backward_type nvidia=12:Type precision
  default_conv_algos_override nvidia=17:string engine
  default_cudnn_math_override nvidia=19:int32 engine
  default_forward_math nvidia=13:Type precision
  default_forward_type nvidia=11:Type precision
  eltwise_mem_sharing nvidia=20:bool distributed
  engine intel=9:string engine
  global_grad_scale nvidia=15:float distributed
  global_grad_scale_adaptive nvidia=16:bool distributed
  mem_param tsn=200:MemoryOptimizationParameter distributed
  multinode intel=101:MultinodeParameter distributed
  reduce_buckets nvidia=18:int32 distributed
NoiseParameter
  bias windows=3:float computes | caffe-windows' Noise layer
  gaussian_std windows=1:float computes | caffe-windows' Noise layer
  uniform_range windows=2:float computes | caffe-windows' Noise layer
NormalizeParameter
  bp_norm windows=3:bool computes | caffe-windows' Normalize is not SSD's
  fix_gradient windows=2:bool computes | caffe-windows' Normalize is not SSD's
  normalize_type windows=1:string computes | caffe-windows' Normalize is not SSD's
ParameterParameter
  blob_filler windows=2:FillerParameter filler
PoolingParameter
  avg_include_pad intel=13:bool computes
  axis intel=14:int32 computes
  blobs_a_min windows=14:float computes
  blobs_lr windows=13:float computes
  kernel_size_3d intel=16:uint32* computes
  pad_3d intel=15:uint32* computes
  stride_3d intel=17:uint32* computes
  torch_pooling nvidia=40:bool computes
ROIPoolingParameter
  pooled_size intel=4:uint32* computes
ReLUParameter
  fuse intel=3:bool computes | the ReLU is fused into the layer before it
ReductionParameter
  k tsn=4:int32 computes
ReshapeParameter
  pixelshuffler intel=4:int32 computes
ResizeParameter
  is_pyramid_test windows=3:bool computes | caffe-windows' Resize layer
  out_height_scale windows=4:float computes | caffe-windows' Resize layer
  out_width_scale windows=5:float computes | caffe-windows' Resize layer
ScaleParameter
  max_value windows=7:float computes
  min_value windows=6:float computes
SoftmaxParameter
  class_weight windows=4:float* loss | read by SoftmaxWithLoss only
  cutting_point windows=6:float loss | read by SoftmaxWithLoss only
  hard_mining_label windows=5:int32 loss | read by SoftmaxWithLoss only
  hard_ratio windows=3:float loss | read by SoftmaxWithLoss only
  label_smooth_factor windows=8:float loss | read by SoftmaxWithLoss only
  normalize_type windows=7:string loss | read by SoftmaxWithLoss only
SolverParameter
  clamp_weights_lower windows=42:float solver
  clamp_weights_upper windows=43:float solver
  clip_weights windows=44:float solver
  disabled_update intel=46:bool solver
  engine intel=47:string solver
  group_id tsn=38:int32* solver
  larc nvidia=49:bool solver
  larc_eta nvidia=51:float solver
  larc_policy nvidia=50:string solver
  larc_turbo nvidia=55:bool solver
  local_gw_ratio intel=51:float solver
  local_lr_auto intel=50:bool solver
  max_momentum nvidia=47:float solver
  max_weight_decay nvidia=56:float solver
  min_lr nvidia=43:float solver
  momentum_policy nvidia=46:string solver
  momentum_power nvidia=48:float solver
  plateau_winsize ssd,yolo=43:int32* nvidia=243:int32* intel=44:int32* solver
  rampup_interval nvidia=41:int32 solver
  rampup_lr nvidia=42:float solver
  richness tsn=37:int32 solver
  solver_data_type nvidia=44:Type solver
  stageiter intel=151:int32* yolo=51:int32* solver
  stagelr intel=150:float* yolo=50:float* solver
  store_blobs_in_old_format nvidia=45:bool solver
  test_and_snapshot_last_epochs nvidia=54:int32 solver
  test_offset intel=52:int32 solver
  warmup_iter intel=48:int32 solver
  warmup_start_lr intel=49:float solver
  weight_decay_policy nvidia=52:string solver
  weight_decay_power nvidia=53:float solver
SolverState
  iter_last_event ssd,nvidia,intel,yolo=6:int32 solver
  minimum_loss ssd,nvidia,intel,yolo=5:float solver
TransformationParameter
  allow_upscale nvidia=20:bool data
  apply_probability yolo=29:float data
  aspect_max windows=15:float data
  aspect_min windows=14:float data
  bgr2rgb intel=18:bool data
  center_crop windows=10:bool data
  contrast_brightness_adjustment yolo=19:bool data
  crop_height pspnet,deeplab=10:uint32 data
  crop_width pspnet,deeplab=9:uint32 data
  cvt_bgr2rgb yolo=31:bool data
  debug_params yolo=30:bool debug
  display nvidia=22:bool debug
  enable_classf_aug yolo=15:bool data
  erase_ratio windows=11:float data
  fix_crop tsn=10:bool data
  flow intel=17:bool data
  forward_packing nvidia=21:Packing data
  horizontal_stretch_lower nvidia=16:float data
  horizontal_stretch_upper nvidia=17:float data
  img_rand_resize_lower nvidia=10:uint32 data
  img_rand_resize_upper nvidia=11:uint32 data
  interpolation_algo_down nvidia=18:InterpolationAlgo data
  interpolation_algo_up nvidia=19:InterpolationAlgo data
  is_flow tsn=14:bool data
  max_brightness_shift yolo=23:uint32 data
  max_color_shift yolo=25:uint32 data
  max_contrast yolo=22:float data
  max_distort tsn=13:int32 data
  max_rotation_angle yolo=18:uint32 data
  max_scaling_factor yolo=17:float data
  max_smooth yolo=24:float data
  min_contrast yolo=21:float data
  min_scaling_factor yolo=16:float data
  min_side yolo=28:uint32 data
  min_side_max yolo=27:uint32 data
  min_side_min yolo=26:uint32 data
  more_fix_crop tsn=15:bool data
  multi_scale tsn=11:bool data
  num_labels nvidia=23:int32 data
  original_image tsn=20:bool data
  pad intel=19:uint32 data
  rand_resize_ratio_lower nvidia=12:float data
  rand_resize_ratio_upper nvidia=13:float data
  random_aspect_ratio_param intel=16:RandomAspectRatioParameter data
  random_resize_param intel=15:RandomResizeParameter data
  random_seed nvidia=9:int64 data
  scale_factors pspnet,deeplab=8:float* data
  scale_max windows=13:float data
  scale_min windows=12:float data
  scale_ratios tsn=12:float* data
  smooth_filtering yolo=20:bool data
  stride tsn=16:int32 data
  upper_height tsn=18:int32 data
  upper_size tsn=17:int32 data
  upper_width tsn=19:int32 data
  use_gpu_transform nvidia=8:bool data
  vertical_stretch_lower nvidia=14:float data
  vertical_stretch_upper nvidia=15:float data
V1LayerParameter
  bn_param windows=43:BNParameter computes
  eltwise_affine_param windows=49:EltwiseAffineParameter computes
  insanity_param windows=46:InsanityParameter computes
  local_param windows=44:LocalParameter computes
  noise_param windows=51:NoiseParameter computes
  prelu_param windows=45:PReLUParameter computes
  relu6_param yolo=61:ReLUParameter computes
  roi_pooling_param windows=48:ROIPoolingParameter computes
  sub_region_param windows=50:SubRegionParameter computes
  triplet_loss_param windows=47:TripletLossParameter computes
VideoDataParameter
  batch_size tsn=4:uint32 data
  crop_size tsn=5:uint32 data
  encoded tsn=15:bool data
  grayscale tsn=16:bool data
  mean_file tsn=3:string data
  mirror tsn=6:bool data
  modality tsn=13:Modality data
  name_pattern tsn=14:string data
  new_height tsn=9:uint32 data
  new_length tsn=11:uint32 data
  new_width tsn=10:uint32 data
  num_segments tsn=12:uint32 data
  rand_skip tsn=7:uint32 data
  scale tsn=2:float data
  shuffle tsn=8:bool data
  source tsn=1:string data
"""
