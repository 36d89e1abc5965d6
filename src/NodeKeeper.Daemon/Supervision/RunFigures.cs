using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// What is known of one run's health: the sampler's latest figures, the preload's latest report and when it came, and
/// the trends of resident memory and heap. Written by the instance's loop only (a new run starts it afresh); read by
/// status, the health monitor and the sampler from any thread, each value a consistent snapshot.
/// </summary>
public sealed class RunFigures
{
    /// <summary>The first seconds of a run are its warm-up, not a trend.</summary>
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(5);
    private readonly GrowthTrend _rss = GrowthTrend.Default();
    private readonly GrowthTrend _heap = GrowthTrend.Default();
    /// <summary>The event-loop delay (slowest turn) of the run's last reports after its warm-up, a ring of
    /// <see cref="LagsKept"/> (taken at the first such report).</summary>
    private double[]? _lags;
    private int _lagsSeen;

    /// <summary>How many reports' event-loop delay a run keeps: what a reload's watch compares the new version with.</summary>
    public const int LagsKept = 30;

    /// <summary>The latest sample of the running process; null until the sampler has seen it.</summary>
    public InstanceMetrics? Metrics { get; private set; }
    /// <summary>The preload's latest report on this run (heap, event-loop delay, handles).</summary>
    public PreloadReport? Report { get; private set; }
    public DateTimeOffset? ReportAt { get; private set; }
    /// <summary>HTTP responses a second between the last two reports that counted them; null before two.</summary>
    public double? RequestsPerSecond { get; private set; }
    public GrowthEstimate? MemoryGrowth { get { lock (_rss) return _rss.Estimate(); } }
    public GrowthEstimate? HeapGrowth { get { lock (_heap) return _heap.Estimate(); } }

    public void Reset()
    {
        Metrics = null;
        Report = null;
        ReportAt = null;
        RequestsPerSecond = null;
        lock (_rss) _rss.Reset();
        lock (_heap) _lagsSeen = 0;
        lock (_heap) _heap.Reset();
    }

    public void Sampled(InstanceMetrics metrics, DateTimeOffset now, DateTimeOffset? startedAt)
    {
        Metrics = metrics;
        if (startedAt is { } started && now - started > WarmUp)
            lock (_rss) _rss.Add(now, metrics.MemoryBytes);
    }

    public void Reported(PreloadReport report, DateTimeOffset now, DateTimeOffset? startedAt)
    {
        if (Report?.Http is { } before && report.Http is { } after && ReportAt is { } at && now > at)
            RequestsPerSecond = Math.Max(0, after.Total - before.Total) / (now - at).TotalSeconds;
        Report = report;
        ReportAt = now;
        lock (_heap)
        {
            _heap.Add(now, report.HeapUsed);
            // The first seconds (compiling; the delay histogram not yet on) would make any version look quicker than it is.
            if (startedAt is { } started && now - started > WarmUp)
            {
                _lags ??= new double[LagsKept];
                _lags[_lagsSeen++ % LagsKept] = report.LagMax;
            }
        }
    }

    /// <summary>The event-loop delay (slowest turn) of the run's last reports after its warm-up (at most <see cref="LagsKept"/>).</summary>
    public double[] RecentLags()
    {
        lock (_heap) return _lags is null ? [] : _lags[..Math.Min(_lagsSeen, LagsKept)];
    }

    /// <summary>The last figures before an exit, kept with it in the history.</summary>
    public MetricsBefore Snapshot()
    {
        var m = Metrics;
        var r = Report;
        return new MetricsBefore(m?.MemoryBytes, MemoryGrowth?.MbPerMinute is { } g ? Math.Round(g, 1) : null, r?.HeapUsed, r?.HeapLimit,
            r?.LagP99, m?.OpenFiles, m?.MaxOpenFiles);
    }
}
