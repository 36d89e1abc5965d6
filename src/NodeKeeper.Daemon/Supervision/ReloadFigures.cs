using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// What a group of instances showed over a period, gathered poll by poll for a reload's guard: HTTP responses (the
/// preload's counts are per process, so a process that restarts adds what its predecessor had counted), exits nobody
/// asked for, the event-loop delay of each report (its slowest turn), and the memory growth the sampler sees.
/// </summary>
public sealed class ReloadFigures
{
    private sealed class Counted
    {
        public int? Pid;
        public Outcomes AtStart, Last, Carried;
    }

    private readonly Dictionary<InstanceRunner, Counted> _counted = [];
    private readonly Dictionary<InstanceRunner, DateTimeOffset> _lastReport = [];
    private readonly List<double> _lags = [];
    private readonly DateTimeOffset _since;

    /// <summary>
    /// Starts counting at <paramref name="since"/>. <paramref name="fromNow"/>: what the processes counted before now is
    /// left out (old instances compared over the canary's period); else their counts since they started are taken.
    /// </summary>
    public ReloadFigures(IEnumerable<InstanceRunner> runners, DateTimeOffset since, bool fromNow)
    {
        _since = since;
        foreach (var r in runners)
        {
            var c = new Counted { Pid = r.State.Pid, Last = Of(r.Report?.Http) };
            if (fromNow) c.AtStart = c.Last;
            _counted[r] = c;
        }
    }

    /// <summary>
    /// The old version before a reload, for the watch after the cut-over: its counts since each process started, and the
    /// event-loop delay of each instance's last reports (<see cref="RunFigures.LagsKept"/> at most), so that its delay is
    /// known even though its instances are gone before the watch asks.
    /// </summary>
    public static ReloadFigures OverTheirLife(IReadOnlyCollection<InstanceRunner> runners, DateTimeOffset since)
    {
        var figures = new ReloadFigures(runners, since, fromNow: false);
        foreach (var r in runners)
        {
            figures._lags.AddRange(r.RecentLags());
            if (r.ReportAt is { } at) figures._lastReport[r] = at;
        }
        return figures;
    }

    public static Outcomes Of(HttpOutcomes? h) => h is null ? default : new Outcomes(h.Total, h.Failed);

    /// <summary>The responses since the start, the exits nobody asked for since then, and whether one gave up.</summary>
    public (Outcomes Responses, int Exits, bool Errored, IReadOnlyList<string> ExitEvidence) Poll()
    {
        Outcomes sum = default;
        var exits = 0;
        var errored = false;
        var evidence = new List<string>();
        foreach (var (r, c) in _counted)
        {
            var now = Of(r.Report?.Http);
            if (r.State.Pid != c.Pid)
            {
                // Another process: what the last one counted stays counted.
                c.Carried += c.Last - c.AtStart;
                (c.Pid, c.AtStart, c.Last) = (r.State.Pid, default, now);
            }
            else if (now.Total >= c.Last.Total) c.Last = now;
            sum += c.Carried + (c.Last - c.AtStart);
            foreach (var h in r.History.Where(h => h.Exit.At >= _since && !ExitReasons.IsAsked(h.Exit.Reason)))
            {
                exits++;
                evidence.Add($"instance {r.Index} exited: {h.Exit.Reason}{(h.Exit.Code is { } code ? $" (code {code})" : h.Exit.Signal is { } s ? $" ({s})" : "")}"
                    + (h.Evidence.Count > 0 ? $": {h.Evidence[0]}" : ""));
            }
            errored |= r.State.Status == InstanceStatus.Errored;
            if (r.Report is { } report && r.ReportAt is { } at && _lastReport.GetValueOrDefault(r) != at)
            {
                _lastReport[r] = at;
                _lags.Add(report.LagMax);
            }
        }
        return (sum, exits, errored, evidence);
    }

    /// <summary>
    /// The median of the event-loop delays (each report's slowest turn) reported since the start; null before 5 reports: a fresh process's first
    /// seconds (compiling, under load) are its warm-up, not its event loop.
    /// </summary>
    public double? MedianLagMs()
    {
        if (_lags.Count < 5) return null;
        var sorted = _lags.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>The fastest steady memory growth among the instances (MB/min); null when none grows steadily.</summary>
    public double? GrowthMbPerMin() =>
        _counted.Keys.Select(r => r.MemoryGrowth?.MbPerMinute).Where(g => g is not null).Max();
}
