"""What a command needs from its composed config at run time, without torch or SB3: where its
files go (`output_dir`) and the config as plain containers (`to_plain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def output_dir() -> Path:
    """Hydra's run directory when run through Hydra, else the working directory."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def to_plain(cfg: Any) -> Any:
    """DictConfig → dict/list: SB3 checks isinstance(net_arch, dict), which a DictConfig fails."""
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
