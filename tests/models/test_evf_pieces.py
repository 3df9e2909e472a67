"""The EVF pieces fit together (book/09-evf, issue 16): rendered clips of simulated pushes, the
experience encoder over *other* clips of the object, the action-conditioned predictor conditioned
on its embedding, a Reptile meta-step over two objects, PSNR per horizon step."""
import torch

from reprobook.eval.video import per_step, psnr
from reprobook.models.experience import ExperienceEncoder
from reprobook.models.video_prediction import CDNAPredictor, video_prediction_loss
from reprobook.sim.push_videos import push_videos, to_float_video
from reprobook.sim.render import Camera
from reprobook.train.reptile import reptile_step


class EVF(torch.nn.Module):
    """Encoder + predictor as one module, so that Reptile adapts both."""

    def __init__(self):
        super().__init__()
        self.encoder = ExperienceEncoder(image_size=16, widths=(4, 8), embedding_dim=5)
        self.predictor = CDNAPredictor(image_size=16, hidden=(4, 8, 8), num_masks=2, latent_dim=2, embedding_dim=5)

    def loss(self, batch):
        experience, frames, actions, states = batch
        out = self.predictor(frames, actions, states, context=2, embedding=self.encoder(experience))
        return video_prediction_loss(out, frames)["loss"]


def test_clips_to_embedding_to_prediction_to_a_reptile_step():
    torch.manual_seed(0)
    data = push_videos(["4a4a4a4a", "1c2C3a4a"], pushes=3, n_frames=4, camera=Camera(size=16))
    video = to_float_video(data["frames"])                                   # (2, 3, 4, 3, 16, 16)
    actions = torch.as_tensor(data["actions"], dtype=torch.float32) * 10    # (2, 3, 4, 4), ~unit scale
    states = torch.as_tensor(data["states"], dtype=torch.float32) * 10      # (2, 3, 4, 3)
    model = EVF()

    def task(i):  # predict push 0 of object i from its two other pushes' clips
        return [(video[i, 1:].unsqueeze(0), video[i, :1], actions[i, :1], states[i, :1])]

    before = [p.detach().clone() for p in model.parameters()]
    result = reptile_step(model, [task(0), task(1)], inner_steps=2, inner_lr=1e-3, outer_lr=1.0,
                          loss_fn=lambda m, b: m.loss(b))
    assert result["n_tasks"] == 2 and result["step_norm"] > 0
    assert all(torch.isfinite(torch.tensor(losses)).all() for losses in result["inner_losses"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with torch.no_grad():
        experience, frames, acts, sts = task(1)[0]
        out = model.predictor(frames, acts, sts, context=2, embedding=model.encoder(experience), posterior=False)
    curve = per_step(psnr, out["frames_pred"], frames[:, 1:])
    assert curve.shape == (3,) and torch.isfinite(curve).all()
