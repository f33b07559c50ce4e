"""``python -m finr1_train`` (what ``accelerate launch -m finr1_train …`` runs on every process)."""

from finr1_train.cli import main

raise SystemExit(main())
