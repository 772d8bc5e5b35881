"""The documented import path of ctstat's pandera checks: `import ctstat.pandera_checks` registers them."""

from ctstat.check.pandera_checks import *  # noqa: F401,F403
