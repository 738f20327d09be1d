"""`distill models | losses`: what the registries hold."""

import argparse
from typing import Any

from distill.losses import get_loss_class, list_losses
from distill.models import get_model_spec, list_models


def _cmd_models(args: argparse.Namespace) -> None:
    for name in list_models():
        spec = get_model_spec(name)
        print(f"{name:24} {spec.arch:24} {spec.preprocess.input_size[0]:>4}px  {spec.description}")


def _cmd_losses(args: argparse.Namespace) -> None:
    for name in list_losses():
        cls = get_loss_class(name)
        print(f"{name:22} modes: {'/'.join(cls.modes):9} teacher: {'yes' if cls.needs_teacher else 'no ':3}  "
              f"{(cls.__doc__ or '').strip().splitlines()[0]}")


def add_arguments(sub: Any) -> None:
    """Register the command(s) on the `distill` sub-parsers `sub`."""
    sub.add_parser("models", help="list model presets").set_defaults(func=_cmd_models)
    sub.add_parser("losses", help="list losses").set_defaults(func=_cmd_losses)
