"""The per-worker training loop: one function for every model type, run by Ray Train.

Read it top to bottom: set-up, resume, then for each epoch (1) train on this worker's shard,
(2) validate, (3) combine the statistics of all workers, (4) step the schedule and decide on
early stopping, (5) checkpoint and report. Everything model-specific is behind `Task`.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from raytrain.artifacts.checkpoint import STATE_FILE, load_state_dict, save_checkpoint, unwrap
from raytrain.artifacts.export import input_shape
from raytrain.models import create_model, get_model_spec
from raytrain.tasks.resolve import to_inputs
from raytrain.train.clipping import Clipping
from raytrain.train.context import EpochRecord, LoopContext
from raytrain.train.optim import build_optimizer
from raytrain.train.precision import resolve_precision
from raytrain.train.schedules import LRSchedule
from raytrain.train.spec import RunSpec
from raytrain.train.step import NonFiniteLossError, TrainStep, autocast_dtype, train_epoch
from raytrain.train.transfer import Freeze, apply_pretrained
from raytrain.viz.epoch_plots import finish_run_plots, plot_switches, write_epoch_plots
from raytrain.viz.run import PredictionBuffer, write_run_plots

__all__ = ["NonFiniteLossError", "autocast_dtype", "run_loop"]


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        t = t.clone()
        # gloo cannot reduce float64 on every platform build; sums of counts fit in float64
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def run_loop(spec: RunSpec, ctx: LoopContext) -> None:
    """Train one model: `spec` says what (built once on the driver), `ctx` where it runs (a Ray
    Train worker, a single-worker Tune trial, the `raytrain train` process)."""
    from raytrain.train.tracking import RunLogger

    # -- set-up ---------------------------------------------------------------------------
    cfg, data = spec.config, spec.data
    config_json = spec.config_json()
    rank = ctx.world_rank
    tp = cfg.training_params
    torch.manual_seed(cfg.training.seed)  # identical initial weights on every worker

    task = spec.build_task()
    model = create_model(cfg.model.architecture, cfg.model.params(), data)
    task.prepare_model(model)
    pretrained_note = apply_pretrained(model, cfg)  # before DDP: every worker loads the same
    device = ctx.device()
    # mixed_precision (auto: bf16 + channels_last for conv models on CUDA, float32 on CPU);
    # the memory format is set before DDP wraps the model
    precision = resolve_precision(tp.mixed_precision, device, model)
    model = ctx.prepare_model(precision.apply(model))  # device placement + DDP when world > 1
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    schedule = LRSchedule(
        cfg.scheduler,
        cfg.optimizer.learning_rate,
        spec.steps_per_epoch(ctx.world_size),
        tp.num_epochs,
        tp.warmup_epochs,
    )
    stepper = TrainStep(
        model,
        optimizer,
        task.loss,
        schedule,
        device=device,
        accumulation=tp.gradient_accumulation_steps,
        clipping=Clipping.from_config(tp),
        amp_dtype=precision.amp_dtype,
        freeze=Freeze.from_config(unwrap(model), cfg),
        record=ctx.world_rank == 0,
        memory_format=precision.memory_format,
    )
    monitor, mode = spec.monitor, spec.mode
    sign = 1.0 if mode == "max" else -1.0

    # -- resume from the last checkpoint: Ray Train's after a restart, else the run's own ------
    start_epoch, best, since_best = 0, -math.inf, 0
    ckpt = ctx.checkpoint()
    if ckpt:
        with ckpt.as_directory() as d:
            unwrap(model).load_state_dict(load_state_dict(Path(d) / "model.pt"))
            state = load_state_dict(Path(d) / STATE_FILE)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if "stepper" in state:  # checkpoints written before per-step schedules lack it
            stepper.load_state_dict(state["stepper"])
        start_epoch, best, since_best = state["epoch"] + 1, state["best"], state["since_best"]

    logger, buffer = None, None
    activation = task.output_activation()
    if rank == 0 and cfg.logging.visualizations:
        buffer = PredictionBuffer(task.name)
    if rank == 0:
        logger = RunLogger(spec.log_dir, cfg.logging, spec.run_name, cfg.training.name, config_json)
        if pretrained_note:
            print(pretrained_note, flush=True)
    num_nodes = ctx.num_nodes()
    plot_args = {
        "monitor": monitor,
        "mode": mode,
        "patience": tp.early_stopping_patience,
        "schedule": cfg.scheduler.type,
        "warmup_epochs": tp.warmup_epochs,
    }
    tracker = None
    if rank == 0 and cfg.logging.gradient_tracking:
        from raytrain.train.grad_stats import GradientTracker

        tracker = GradientTracker(unwrap(model), Path(spec.log_dir) / "analysis")
    batches_per_epoch = (spec.train_rows // max(1, ctx.world_size)) // cfg.dataset.batch_size
    train_shard = ctx.dataset_shard("train")
    val_shard = ctx.dataset_shard("val")
    bs = cfg.dataset.batch_size

    # A trial the scheduler stops leaves through tune.report (SystemExit); in a reused
    # trial actor the process lives on, so the logger (TensorBoard thread, CSV, wandb
    # run) is closed on every way out.
    try:
        for epoch in range(start_epoch, tp.num_epochs):
            t0 = time.perf_counter()
            # 1. train on this worker's shard (raytrain.train.step: accumulation, AMP, clipping,
            #    frozen layers, the per-step LR, the NaN stop); train_sum = [loss * n, n]
            batches = (
                to_inputs(batch, task)
                for batch in train_shard.iter_torch_batches(
                    batch_size=bs, drop_last=True, local_shuffle_buffer_size=4 * bs, device=device
                )
            )
            if rank == 0 and spec.progress:
                from raytrain.train.progress import progress

                batches = progress(
                    batches, total=batches_per_epoch, epoch=epoch, num_epochs=tp.num_epochs
                )
            if tracker is not None:
                tracker.start_epoch(epoch + 1)
            train_sum = train_epoch(stepper, batches, epoch)
            grad_summary = tracker.end_epoch() if tracker is not None else None

            # 2. validate on this worker's shard of the validation split
            model.eval()
            stats = task.new_stats(device)
            if buffer is not None:
                buffer.reset()  # keep the latest epoch's predictions for the end-of-run plots
            val_sum = torch.zeros(2, dtype=torch.float64, device=device)
            with torch.no_grad():
                for batch in val_shard.iter_torch_batches(batch_size=bs, device=device):
                    x, y = to_inputs(batch, task)
                    out = model(x)
                    val_sum += torch.stack(
                        [
                            task.loss(out, y).double() * len(x),
                            out.new_tensor(len(x), dtype=torch.float64),
                        ]
                    )
                    task.update_stats(stats, out, y)
                    if buffer is not None:
                        buffer.add(x, activation(out.float()), y)

            # 3. combine all workers' statistics into exact global metrics
            reduced = _all_reduce(torch.cat([train_sum, val_sum, stats])).cpu()
            (tl, tn, vl, vn), stats = reduced[:4].tolist(), reduced[4:]
            if tn == 0:
                raise RuntimeError(
                    f"the training split gave no full batch of {bs} rows per "
                    f"worker; lower dataset.batch_size or add data"
                )
            metrics: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": tl / tn,
                "val_loss": vl / max(vn, 1),
                "lr": stepper.lr,  # the LR of the epoch's last step (every step's: steps_log.csv)
            }
            metrics.update({f"val_{k}": v for k, v in task.compute_metrics(stats).items()})
            metrics["epoch_time_s"] = time.perf_counter() - t0
            metrics["world_size"] = ctx.world_size
            metrics["num_nodes"] = num_nodes
            if monitor not in metrics:
                raise ValueError(
                    f"search.metric: '{monitor}' is not reported; reported metrics: "
                    f"{', '.join(sorted(metrics))}"
                )

            # 4. schedule, best epoch, early stopping (same decision on every worker)
            value = metrics[monitor]
            improved = sign * value > best
            if improved:
                best, since_best = sign * value, 0
            else:
                since_best += 1
            schedule.epoch_end(
                metrics["val_loss"] if cfg.scheduler.mode == "min" else value, stepper.step
            )
            last = epoch + 1 == tp.num_epochs
            stop = bool(tp.early_stopping_patience and since_best >= tp.early_stopping_patience)
            metrics["is_best"] = improved
            # the run ended by its own rule (last epoch or early stopping); a trial whose last
            # report lacks it was stopped from outside (the scheduler): `STOPPED` in the table
            metrics["finished"] = bool(last or stop)

            # 5. log the epoch (CSV, TensorBoard, wandb, one progress line; raytrain's metrics)
            if rank == 0:
                ctx.epoch_done(
                    EpochRecord(
                        cfg.training.name,
                        spec.run_name,
                        epoch=epoch + 1,
                        samples=tn,
                        seconds=metrics["epoch_time_s"],
                        metric=monitor,
                        value=value,
                        best=sign * best,
                    )
                )
            if logger is not None:
                logger.log(metrics, step=epoch + 1)
                logger.log_steps(stepper.take_history())
                shown = {k: v for k, v in metrics.items() if k.startswith(("train_", "val_"))}
                print(
                    f"epoch {epoch + 1}/{tp.num_epochs} "
                    + " ".join(f"{k}={v:.4g}" for k, v in shown.items()),
                    flush=True,
                )
            # 6. plots, then the checkpoint and report. Plots come *before* the report: Tune may
            #    end the trial as soon as it sees the last epoch (max_t), and would kill a plot
            #    drawn after.
            if buffer is not None:
                log_dir = Path(spec.log_dir)
                if last or stop:
                    write_run_plots(
                        log_dir,
                        unwrap(model),
                        input_shape({"data_info": data.__dict__}),
                        buffer,
                        **plot_args,
                        class_names=data.extra.get("class_names"),
                        threshold=cfg.evaluation.threshold,
                        analysis=cfg.logging.analysis,
                        train_class_counts=data.extra.get("class_counts"),
                    )
                    finish_run_plots(
                        log_dir,
                        buffer,
                        class_names=data.extra.get("class_names"),
                        threshold=cfg.evaluation.threshold,
                        switches=plot_switches(cfg.logging),
                        extra={"gradients": grad_summary} if grad_summary else None,
                        monitor=monitor,
                        mode=mode,
                        patience=tp.early_stopping_patience,
                    )
                elif cfg.logging.visualization_frequency and (
                    (epoch + 1) % cfg.logging.visualization_frequency == 0
                ):
                    write_epoch_plots(
                        log_dir,
                        buffer,
                        class_names=data.extra.get("class_names"),
                        threshold=cfg.evaluation.threshold,
                        switches=plot_switches(cfg.logging),
                        train_class_counts=data.extra.get("class_counts"),
                        **plot_args,
                    )
            # 7. checkpoint (rank 0 writes, everyone reports: report is a barrier)
            save = improved or last or stop or (epoch + 1) % tp.save_frequency == 0
            with tempfile.TemporaryDirectory() as tmp:
                saved = rank == 0 and save
                if saved:
                    meta = {
                        "architecture": get_model_spec(cfg.model.architecture).name,
                        "model_params": cfg.model.params(),
                        "task": spec.task,
                        "data_info": data.__dict__,
                        "epoch": epoch + 1,
                        "metrics": metrics,
                        "monitor": monitor,
                        "mode": mode,
                        "config": config_json,
                    }
                    state = {
                        "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(),
                        "stepper": stepper.state_dict(),
                        "epoch": epoch,
                        "best": best,
                        "since_best": since_best,
                    }
                    save_checkpoint(tmp, model, meta, state)
                ctx.report(metrics, tmp if saved else None)
            if stop:
                break

    finally:
        if logger is not None:
            logger.close()
            if spec.log_uri:  # a search on object storage: the logs go to the bucket
                from raytrain.artifacts.storage import upload_dir

                try:
                    upload_dir(Path(spec.log_dir), spec.log_uri)
                except OSError as e:
                    print(f"warning: {spec.log_uri}: logs not copied ({e})", flush=True)
        if tracker is not None:
            tracker.close()
