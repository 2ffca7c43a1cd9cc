"""Every tolerance of the counterfactual, constraints, latent and recourse tests, once, with
why it is what it is (issue 26). A test compares with a name from here, never a bare
number: a tolerance loosened to make a test pass shows up in this file's history, beside
its reason. (Not a speed limit: timings belong in benchmarks/.)

Scales: the quantities compared are of order 1–100 (costs in MAD units or percentiles,
standardised features, probabilities)."""

#: Two float64 computations of one quantity by different routes (a closed form and ours, a
#: batch and one row): sums of 10²–10³ terms of order 1 differ by round-off, ~1e-13.
ROUND_OFF_64 = 1e-12

#: float32 computations of one quantity by two routes (batched against one at a time,
#: two equal objectives): ~100 units in the last place of values of order 1 (eps 1.2e-7).
ROUND_OFF_32 = 1e-5

#: Against scipy's HiGHS (linprog / milp): it stops at primal and dual feasibility 1e-7
#: relative; the optimal costs of our problems (order 1–10) then agree to ~1e-8.
HIGHS = 1e-6

#: Against an exact LP step solved by linprog with HiGHS on a tiny problem (a handful of
#: columns): no tolerance of its own is reached, the optimum is a vertex, ~1e-12 off.
LP_VERTEX = 1e-9

#: Against scipy's minimize_scalar (bounded, xatol=1e-10) on a kink or a flat valley:
#: the argmin is only as sharp as the objective's curvature allows, ~sqrt(1e-12).
SCALAR_ARGMIN = 1e-6

#: Against Powell's method on a non-smooth objective (it may stop short near a kink, see
#: the objective check beside it): the argmin to 1e-3 while the objective is not worse.
POWELL_ARGMIN = 1e-3

#: A readable value is shown to 4 significant digits (f"{v:.4g}"): off by at most 5e-4
#: relative (and by float32 round-off where the value is near 0).
SHOWN_DIGITS = 1e-3
