"""``reaction report``: screenings pooled into one report in film time."""

import argparse
import os


def register(sub) -> None:
    p = sub.add_parser("report", help="pool screenings into one report: laugh curve, moments, scenes, comparison")
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="analyze output folder, RUN@OFFSET, or a manifest CSV "
        "(run,offset,screening,group); OFFSET is when the film starts in the recording",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="report folder")
    p.add_argument("--scenes", metavar="CSV", help="scene list: start,end,title rows")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--compare", nargs="+", metavar="NAME=RUN,...", help="two groups of screenings to compare")
    p.add_argument("--moments", type=int, default=10, help="how many top moments (default 10)")
    p.add_argument("--db", metavar="SQLITE", help="read the screenings from a store filled by reaction collect")
    p.add_argument("--film", metavar="F", help="with --db: the film to report")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutations")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..audience.build import RunFolders, make_report
    from ..audience.inputs import parse_compare, parse_offset, read_scenes, run_specs
    from ..types import ReactionError

    scenes = read_scenes(args.scenes) if args.scenes else None
    norms = None
    source: object
    if args.db:
        from ..audience.store import Store, StoreScreenings

        if not args.film:
            raise ReactionError("--db needs --film F")
        offsets = {}
        for arg in args.runs:  # with --db: SCREENING@OFFSET, where the film starts in that screening
            sid, at, offset = arg.rpartition("@")
            if not at:
                raise ReactionError("with --db, give screenings as SCREENING@OFFSET, not {!r}".format(arg))
            offsets[sid] = parse_offset(offset, "{}: offset".format(arg))
        store = Store(args.db, create=False)
        source = StoreScreenings(store, args.film, offsets)
        specs = source.specs
        if scenes:
            norms = store.scene_rates(exclude_film=args.film)
    else:
        if not args.runs:
            raise ReactionError("give run folders (or a manifest), or --db with --film")
        specs = run_specs(args.runs)
        source = RunFolders(specs)
    groups = parse_compare(args.compare, specs)
    title = args.title or ("Audience report: " + args.film if args.film else "Audience report")
    result = make_report(source, args.out, scenes, title, groups, n_moments=args.moments, seed=args.seed, norms=norms)
    if args.db and scenes:
        store.save_scene_rates(args.film, result["scenes"])
    print(
        "{} screenings, {} viewers -> {}".format(
            result["screenings"], result["viewers"], os.path.join(args.out, "report.html")
        )
    )
    return 0
