"""EPSANet and ResNet-50 in PyTorch: the project's reference for the parity tests and for `deno task perf`.

EPSANet follows the official implementation (github.com/murufeng/EPSANet): the same module names, so that its
state_dict keys are ours (`layer1.0.conv2.conv_4.weight`, `layer1.0.conv2.se.fc1.bias`, `bn1.running_var`), and the
same arithmetic:

- PSA: four branch convolutions with kernels 3, 5, 7, 9 and groups 1, 4, 8, 16, each giving planes/4 channels;
  ONE SE module shared by the four branches; softmax across the branch axis; branch outputs concatenated last-first
  (x4, x3, x2, x1).
- No conv bias except in the SE module's two 1x1 convs.
- Init: every conv weight N(0, sqrt(2 / (k*k*out_channels))), BatchNorm weight 1 and bias 0; the conv biases and the
  classifier keep PyTorch's defaults.

ResNet-50 is torchvision's own (same names, same init), so the parity tests compare us with the real thing.

Both accept the stem of nn/epsanet.ts: "imagenet" (7x7/2 conv + 3x3/2 max pool) or "cifar" (3x3/1 conv, no pool).
"""
import math

import torch
from torch import nn

STEMS = ("imagenet", "cifar")


def stem_layers(stem):
    """The stem convolution and max pool (an Identity with the CIFAR stem) for `stem`."""
    if stem == "imagenet":
        return nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.MaxPool2d(3, stride=2, padding=1)
    if stem == "cifar":
        return nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False), nn.Identity()
    raise ValueError(f'stem must be one of {", ".join(STEMS)}, got "{stem}"')


class SEWeightModule(nn.Module):
    """Squeeze-and-excitation weights: (N, C, H, W) -> (N, C, 1, 1) attention in (0, 1), not the rescaled input."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class PSAModule(nn.Module):
    """Pyramid split attention: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride)."""

    def __init__(self, inplanes, planes, conv_kernels=(3, 5, 7, 9), stride=1, conv_groups=(1, 4, 8, 16)):
        super().__init__()
        self.split_channel = planes // 4
        for index, (kernel, groups) in enumerate(zip(conv_kernels, conv_groups), start=1):
            branch = nn.Conv2d(inplanes, self.split_channel, kernel, stride=stride, padding=kernel // 2,
                               groups=groups, bias=False)
            setattr(self, f"conv_{index}", branch)
        self.se = SEWeightModule(self.split_channel)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        branches = [self.conv_1(x), self.conv_2(x), self.conv_3(x), self.conv_4(x)]  # 4 x (N, C/4, H, W)
        batch, split, height, width = branches[0].shape
        feats = torch.cat(branches, dim=1).view(batch, 4, split, height, width)
        attention = torch.cat([self.se(b) for b in branches], dim=1).view(batch, 4, split, 1, 1)
        weighted = feats * self.softmax(attention)  # softmax across the four branches
        # The official module prepends each branch in turn, so the output reads x4, x3, x2, x1.
        return torch.cat([weighted[:, i] for i in (3, 2, 1, 0)], dim=1)


class EPSABlock(nn.Module):
    """The bottleneck with a PSA module in place of the 3x3 conv; output channels planes * 4."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, conv_kernels=(3, 5, 7, 9),
                 conv_groups=(1, 4, 8, 16)):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = PSAModule(planes, planes, conv_kernels, stride, conv_groups)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class EPSANet(nn.Module):
    """Stem, four stages of EPSABlocks (64, 128, 256, 512 planes; strides 1, 2, 2, 2), average pool, classifier."""

    def __init__(self, layers, num_classes=1000, stem="imagenet"):
        super().__init__()
        self.inplanes = 64
        self.conv1, maxpool = stem_layers(stem)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = maxpool
        self.layer1 = self._make_stage(64, layers[0], stride=1)
        self.layer2 = self._make_stage(128, layers[1], stride=2)
        self.layer3 = self._make_stage(256, layers[2], stride=2)
        self.layer4 = self._make_stage(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * EPSABlock.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                module.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.data.fill_(1)
                module.bias.data.zero_()

    def _make_stage(self, planes, blocks, stride):
        out_channels = planes * EPSABlock.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        stage = [EPSABlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = out_channels
        stage += [EPSABlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4) with the ImageNet stem
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 2048, H/32, W/32)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (N, num_classes)


def epsanet50(num_classes=1000, stem="imagenet"):
    """EPSANet-50: 22,561,715 trainable parameters with 1000 classes."""
    return EPSANet([3, 4, 6, 3], num_classes, stem)


def epsanet101(num_classes=1000, stem="imagenet"):
    """EPSANet-101: 38,900,279 trainable parameters with 1000 classes."""
    return EPSANet([3, 4, 23, 3], num_classes, stem)


def resnet50(num_classes=1000, stem="imagenet"):
    """torchvision's ResNet-50 (25,557,032 parameters with 1000 classes), its stem swapped for the CIFAR one."""
    import torchvision  # only ResNet needs it

    model = torchvision.models.resnet50(num_classes=num_classes)
    if stem != "imagenet":
        model.conv1, model.maxpool = stem_layers(stem)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


MODELS = {"epsanet50": epsanet50, "epsanet101": epsanet101, "resnet50": resnet50}


def create_model(name, num_classes=1000, stem="imagenet"):
    """Builds a network by the name nn/models.ts gives it."""
    if name not in MODELS:
        raise ValueError(f'model must be one of {", ".join(MODELS)}, got "{name}"')
    return MODELS[name](num_classes, stem)
