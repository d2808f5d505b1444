"""The end of a soak: its figures as a Markdown table, the problems every soak checks for, and the
verdict."""


def print_table(rows):
    """Prints (figure, value) rows as a Markdown table."""
    print("\n| figure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(flush=True)


def delivery_problems(missing, duplicated, drained):
    """What breaks the promise of exactly one row per acknowledged event, and a queue left undrained."""
    problems = []
    if missing:
        problems.append(f"{len(missing)} acknowledged events have no row, e.g. {missing[:5]}")
    if duplicated:
        problems.append(f"{duplicated} duplicated rows")
    if not drained:
        problems.append("the groups did not drain")
    return problems


def verdict(problems, log):
    """Logs each problem and the verdict; answers the exit status (0: every invariant holds)."""
    for problem in problems:
        log(f"VIOLATION: {problem}")
    log("every invariant holds" if not problems else f"{len(problems)} invariant(s) violated")
    return 0 if not problems else 1
