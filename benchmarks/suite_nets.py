"""Net definitions for the benchmarks that must run where ``../shared/zoo`` is absent (not a
benchmark): GoogLeNet's deploy prototxt generated from its inception table, and the reduced
("tiny") depths that ``gpu_suite.py --smoke`` runs on a CPU.

``googlenet_prototxt()`` writes the same net as the BVLC model zoo's
``bvlc_googlenet/deploy.prototxt``: the same layers in the same order, with the same names,
types, bottoms and tops and the same parameters (fillers, ``lr_mult``/``decay_mult``, LRN and
pooling settings).  ``last="inception_3a"`` stops after that inception and pools its output
globally (the classifier then reads the smaller blob); the layer types, and so every code
path of the converter and of the hand-written twin, stay the same.
"""

from __future__ import annotations

# GoogLeNet's inception table: name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
INCEPTIONS = (
    ("inception_3a", 64, 96, 128, 16, 32, 32),
    ("inception_3b", 128, 128, 192, 32, 96, 64),
    ("inception_4a", 192, 96, 208, 16, 48, 64),
    ("inception_4b", 160, 112, 224, 24, 64, 64),
    ("inception_4c", 128, 128, 256, 24, 64, 64),
    ("inception_4d", 112, 144, 288, 32, 64, 64),
    ("inception_4e", 256, 160, 320, 32, 128, 128),
    ("inception_5a", 256, 160, 320, 32, 128, 128),
    ("inception_5b", 384, 192, 384, 48, 128, 128),
)
# a stride-2 max pool follows these inceptions
POOL_AFTER = {"inception_3b": "pool3/3x3_s2", "inception_4e": "pool4/3x3_s2"}
# the zoo's xavier ``std`` of each inception branch convolution (ignored by xavier, kept
# so that the prototxt is the zoo's)
BRANCH_STD = {"1x1": 0.03, "3x3_reduce": 0.09, "3x3": 0.03, "5x5_reduce": 0.2, "5x5": 0.03,
              "pool_proj": 0.1}

# ResNet-50's stage table (stage, blocks, bottleneck width, output width) and the tiny one
RESNET_STAGES = ((2, 3, 64, 256), (3, 4, 128, 512), (4, 6, 256, 1024), (5, 3, 512, 2048))
TINY_RESNET_STAGES = ((2, 1, 8, 16), (3, 1, 8, 32))
TINY_GOOGLENET_LAST = "inception_3a"


def inceptions(last=None):
    """The inception rows up to and including ``last`` (all by default)."""
    names = [row[0] for row in INCEPTIONS]
    if last is not None and last not in names:
        raise ValueError(f"no inception named {last!r}")
    return INCEPTIONS[:names.index(last) + 1] if last else INCEPTIONS


def googlenet_downsampling(last=None):
    """How much smaller than the input the last inception's output is (8, 16 or 32)."""
    rows = inceptions(last)
    return 8 * 2 ** sum(1 for row in rows[:-1] if row[0] in POOL_AFTER)


def googlenet_prototxt(batch=10, size=224, last=None):
    """GoogLeNet's deploy prototxt as the zoo has it (``last``: see the module docstring)."""
    out = ['name: "GoogleNet"',
           'layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n'
           f'  input_param {{ shape: {{ dim: {batch} dim: 3 dim: {size} dim: {size} }} }}\n}}']
    mults = ('  param {\n    lr_mult: 1\n    decay_mult: 1\n  }\n'
             '  param {\n    lr_mult: 2\n    decay_mult: 0\n  }\n')

    def conv(name, bottom, n, k, std, pad=0, stride=1):
        geometry = (f"    pad: {pad}\n" if pad else "") + f"    kernel_size: {k}\n" + \
                   (f"    stride: {stride}\n" if stride != 1 else "")
        out.append(f'layer {{\n  name: "{name}"\n  type: "Convolution"\n  bottom: "{bottom}"\n'
                   f'  top: "{name}"\n{mults}  convolution_param {{\n    num_output: {n}\n'
                   f'{geometry}    weight_filler {{\n      type: "xavier"\n      std: {std}\n'
                   '    }\n    bias_filler {\n      type: "constant"\n      value: 0.2\n    }\n'
                   '  }\n}')

    def relu(name, blob):
        out.append(f'layer {{\n  name: "{name}"\n  type: "ReLU"\n  bottom: "{blob}"\n'
                   f'  top: "{blob}"\n}}')

    def pool(name, bottom, kind, k, stride, pad=0):
        out.append(f'layer {{\n  name: "{name}"\n  type: "Pooling"\n  bottom: "{bottom}"\n'
                   f'  top: "{name}"\n  pooling_param {{\n    pool: {kind}\n    kernel_size: {k}\n'
                   f'    stride: {stride}\n' + (f"    pad: {pad}\n" if pad else "") + '  }\n}')

    def lrn(name, bottom):
        out.append(f'layer {{\n  name: "{name}"\n  type: "LRN"\n  bottom: "{bottom}"\n'
                   f'  top: "{name}"\n  lrn_param {{\n    local_size: 5\n    alpha: 0.0001\n'
                   '    beta: 0.75\n  }\n}')

    conv("conv1/7x7_s2", "data", 64, 7, 0.1, pad=3, stride=2)
    relu("conv1/relu_7x7", "conv1/7x7_s2")
    pool("pool1/3x3_s2", "conv1/7x7_s2", "MAX", 3, 2)
    lrn("pool1/norm1", "pool1/3x3_s2")
    conv("conv2/3x3_reduce", "pool1/norm1", 64, 1, 0.1)
    relu("conv2/relu_3x3_reduce", "conv2/3x3_reduce")
    conv("conv2/3x3", "conv2/3x3_reduce", 192, 3, 0.03, pad=1)
    relu("conv2/relu_3x3", "conv2/3x3")
    lrn("conv2/norm2", "conv2/3x3")
    pool("pool2/3x3_s2", "conv2/norm2", "MAX", 3, 2)
    x = "pool2/3x3_s2"
    for name, c1, c3r, c3, c5r, c5, pp in inceptions(last):
        branches = []
        for branch, n, k, bottom, pad in (("1x1", c1, 1, x, 0), ("3x3_reduce", c3r, 1, x, 0),
                                          ("3x3", c3, 3, f"{name}/3x3_reduce", 1),
                                          ("5x5_reduce", c5r, 1, x, 0),
                                          ("5x5", c5, 5, f"{name}/5x5_reduce", 2)):
            conv(f"{name}/{branch}", bottom, n, k, BRANCH_STD[branch], pad=pad)
            relu(f"{name}/relu_{branch}", f"{name}/{branch}")
            if "reduce" not in branch:
                branches.append(f"{name}/{branch}")
        pool(f"{name}/pool", x, "MAX", 3, 1, pad=1)
        conv(f"{name}/pool_proj", f"{name}/pool", pp, 1, BRANCH_STD["pool_proj"])
        relu(f"{name}/relu_pool_proj", f"{name}/pool_proj")
        bottoms = "".join(f'  bottom: "{b}"\n' for b in branches + [f"{name}/pool_proj"])
        out.append(f'layer {{\n  name: "{name}/output"\n  type: "Concat"\n{bottoms}'
                   f'  top: "{name}/output"\n}}')
        x = f"{name}/output"
        if name in POOL_AFTER and name != (last or INCEPTIONS[-1][0]):
            pool(POOL_AFTER[name], x, "MAX", 3, 2)
            x = POOL_AFTER[name]
    pool("pool5/7x7_s1", x, "AVE", size // googlenet_downsampling(last), 1)
    out.append('layer {\n  name: "pool5/drop_7x7_s1"\n  type: "Dropout"\n'
               '  bottom: "pool5/7x7_s1"\n  top: "pool5/7x7_s1"\n'
               '  dropout_param {\n    dropout_ratio: 0.4\n  }\n}')
    out.append(f'layer {{\n  name: "loss3/classifier"\n  type: "InnerProduct"\n'
               f'  bottom: "pool5/7x7_s1"\n  top: "loss3/classifier"\n{mults}'
               '  inner_product_param {\n    num_output: 1000\n    weight_filler {\n'
               '      type: "xavier"\n    }\n    bias_filler {\n      type: "constant"\n'
               '      value: 0\n    }\n  }\n}')
    out.append('layer {\n  name: "prob"\n  type: "Softmax"\n  bottom: "loss3/classifier"\n'
               '  top: "prob"\n}')
    return "\n".join(out) + "\n"
