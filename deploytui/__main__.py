from __future__ import annotations

from deploytui.cli import main

raise SystemExit(main())
