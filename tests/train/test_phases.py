import pytest
import torch

from cnnlab.classify.config import ClassifyConfig, transfer_phases
from cnnlab.classify.training import classification_step, prepare, train_classifier
from cnnlab.data.datasets import DataConfig, load_dataset
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.models import create_model
from cnnlab.train import FitConfig, run_epoch, seed_everything
from cnnlab.train.checkpoint import load_checkpoint


def phased_config(tmp_path) -> ClassifyConfig:
    """xception-small (BatchNorm throughout, random init) on 200 16x16 digits: 1 frozen epoch, then 2
    fine-tuning epochs in which BatchNorm learns its statistics (as it must from random weights)."""
    phases = transfer_phases(1, 2, freeze_lr=0.05, finetune_lr=0.01, finetune_bn_stats=True)
    return ClassifyConfig(data=DataConfig("digits", image_size=16, train_per_class=20), model="xception-small",
                          fit=FitConfig(batch_size=32, phases=phases), runs_dir=str(tmp_path), name="run")


def initial_state(cfg: ClassifyConfig) -> dict:
    """The weights train_classifier starts from: same seed, same order of construction."""
    seed_everything(cfg.fit.seed)
    return prepare(cfg, load_dataset(cfg.data)).state_dict()


def test_frozen_phase_trains_only_the_head_then_finetuning_moves_the_backbone(tmp_path):
    cfg = phased_config(tmp_path)
    last = tmp_path / "classify/run/checkpoints/last.pt"
    after = []
    result = train_classifier(cfg, callbacks=(lambda epoch, record: after.append(load_checkpoint(last)["model"]),))
    assert [r["phase"] for r in result.state.history] == ["frozen", "finetune", "finetune"]
    start = initial_state(cfg)
    head = {"net.head.0.weight", "net.head.0.bias"}
    body = [k for k in start if k not in head and k.startswith("net.")]
    # Weights, BatchNorm running statistics and batch counters of the body are untouched by the frozen phase.
    assert all(torch.equal(after[0][k], start[k]) for k in body), "the frozen phase changed the backbone"
    assert not torch.equal(after[0]["net.head.0.weight"], start["net.head.0.weight"])
    stats = ("running_mean", "running_var", "num_batches_tracked")
    weights = [k for k in body if not k.endswith(stats)]
    moved = [k for k in weights if not torch.equal(after[1][k], after[0][k])]
    assert moved == weights, "fine-tuning left part of the backbone unchanged"
    assert not torch.equal(after[1]["net.features.0.1.running_var"], start["net.features.0.1.running_var"])
    assert result.summary["trainable_params"] == result.summary["params"]


def test_fine_tuning_can_keep_batchnorm_statistics(digits):
    """What fine-tuning a pretrained backbone does by default: weights move, BatchNorm statistics do not."""
    images, labels = digits
    classes = [str(d) for d in range(10)]
    data = ImageData(torch.from_numpy(images[:64])[:, None], torch.from_numpy(labels[:64]), classes)
    model = create_model("xception-small", 1, 10, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    run_epoch(model, classification_step(), BatchLoader(data, 32, shuffle=True), device=torch.device("cpu"),
              precision="fp32", optimizer=optimizer, scheduler=scheduler, freeze_norm_stats=True)
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in after if k.endswith(("running_mean", "running_var")))
    assert not torch.equal(after["net.features.0.0.weight"], before["net.features.0.0.weight"])


def test_resume_across_phases_equals_uninterrupted(tmp_path):
    def stop_at_two(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    full = train_classifier(phased_config(tmp_path / "a"))
    cut = train_classifier(phased_config(tmp_path / "b"), callbacks=(stop_at_two,))
    assert cut.state.epoch == 2 and cut.state.status == "interrupted"
    resumed = train_classifier(phased_config(tmp_path / "b"), resume=True)
    a = load_checkpoint(tmp_path / "a/classify/run/checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "b/classify/run/checkpoints/last.pt")["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    assert resumed.summary["test_acc"] == pytest.approx(full.summary["test_acc"])
    assert [r["phase"] for r in resumed.state.history] == ["frozen", "finetune", "finetune"]


class Batches:
    """Four fixed batches an epoch, drawn from (epoch) alone: a resumed run sees what an uninterrupted one did."""

    def __init__(self, steps: int = 4) -> None:
        self.steps, self.epoch = steps, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        g = torch.Generator().manual_seed(self.epoch)
        for _ in range(self.steps):
            yield torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g)


@pytest.mark.parametrize("cut", [4, 5])
def test_resume_after_a_phase_ended_early_equals_the_uninterrupted_run(tmp_path, cut):
    """Phases of 5 + 3 epochs, patience 2: the first phase stops after epoch 4 (its score fell twice), so the
    second starts at epoch 5 and runs to epoch 8. Interrupted right after the early stop (epoch 4) or inside
    the second phase (epoch 5), the resumed run trains the same phases to the same weights."""
    from cnnlab.train import StepResult, Task, fit
    from cnnlab.train.config import PhaseConfig
    from cnnlab.train.run import RunDir

    scores = [0.5, 0.6, 0.4, 0.4, 0.7, 0.8, 0.9, 1.0]  # by epoch: falls at epochs 3 and 4, then rises
    cfg = FitConfig(phases=(PhaseConfig("frozen", 5, "adam", 0.1), PhaseConfig("finetune", 3, "sgd", 0.01)),
                    patience=2, device="cpu", channels_last="off")

    def step(model, x, y):
        return StepResult(((model(x) - y) ** 2).mean(), {}, len(x))

    def train(folder, stop=None):
        torch.manual_seed(0)
        model, run = torch.nn.Linear(4, 1), RunDir(folder)
        (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        resumed = run.last_checkpoint.is_file()
        done = run.load_checkpoint()["engine"]["history"] if resumed else []
        seen = list(done)

        def judge(net):
            return {"score": scores[len(seen)]}

        def callback(epoch, record):
            seen.append(record)
            if epoch == stop:
                raise KeyboardInterrupt

        task = Task("classify", model, step, Batches(), Batches(2), judge=judge, monitor="val_score", maximize=True)
        state = fit(task, cfg, device=torch.device("cpu"), run=run,
                    checkpoint=run.load_checkpoint() if resumed else None, callbacks=(callback,))
        return model, state

    full_model, full = train(tmp_path / "a")
    assert [r["phase"] for r in full.history] == ["frozen"] * 4 + ["finetune"] * 4 and full.status == "finished"
    assert train(tmp_path / "b", stop=cut)[1].status == "interrupted"
    model, resumed = train(tmp_path / "b")
    assert [r["phase"] for r in resumed.history] == [r["phase"] for r in full.history], resumed.history
    assert torch.equal(model.weight, full_model.weight) and torch.equal(model.bias, full_model.bias)
