import numpy as np
import torch

from fer_face.augment import to_float
from fer_face.inference import predict_logits, shifted, tta_offsets


def test_shifted_moves_content_and_replicates_edges():
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 2, 3] = 1.0
    right_down = shifted(x, 2, 1)
    assert right_down[0, 0, 3, 5] == 1.0 and right_down.sum() == 1.0
    left = shifted(x, -3, 0)
    assert left[0, 0, 2, 0] == 1.0
    edge = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 6, 6)
    assert shifted(edge, 2, 0)[0, 0, 0].tolist() == [0, 0, 0, 1, 2, 3]  # left edge repeated, nothing wraps
    assert shifted(x, 0, 0) is x


def test_predictions_average_the_requested_views():
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, 3)).double()

    class Model(torch.nn.Module):  # any function of the pixels will do; float64 so the comparison is exact
        def forward(self, x):
            return linear(x.double())

    model = Model()
    images = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    x = to_float(torch.from_numpy(images).unsqueeze(1))
    kw = dict(device=torch.device("cpu"), channels_last=False)
    with torch.no_grad():
        plain = linear(x.double()).numpy()
        np.testing.assert_allclose(predict_logits(model, images, **kw), plain, rtol=1e-6)
        views = [shifted(v, dx, dy) for v in (x, torch.flip(x, dims=[3])) for dx, dy in tta_offsets(2)]
        expected = torch.stack([linear(v.double()) for v in views]).mean(0).numpy()
    assert len(views) == 10
    np.testing.assert_allclose(predict_logits(model, images, tta_flip=True, tta_shift_px=2, **kw), expected, rtol=1e-5)
    assert not np.allclose(expected, plain)
