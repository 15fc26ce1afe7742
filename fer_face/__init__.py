"""Face appearance branch: FER2013 data, timm backbones with a Dense-Dense head, training, calibration."""
