using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>What a warning is about, so that readers (`nk why`) find one by its kind and never by its wording.</summary>
public enum WarningKind { OpenFiles, MemoryGrowth, Heap, HeapGrowth, EventLoopLag, Watch, Stalled }

/// <summary>One thing about a running instance that needs the operator's eye: its kind and the sentence shown.</summary>
public sealed record InstanceWarning(WarningKind Kind, string Text);

/// <summary>What an instance's warnings are computed from: the daemon's figures of it at one moment.</summary>
public sealed record WarningInputs
{
    public InstanceStatus Status { get; init; }
    /// <summary>True when the process has the IPC channel the preload reports over (so a missing report means something).</summary>
    public bool HasIpc { get; init; }
    public int? OpenFiles { get; init; }
    public int? MaxOpenFiles { get; init; }
    public PreloadReport? Report { get; init; }
    public DateTimeOffset? ReportAt { get; init; }
    public GrowthEstimate? MemoryGrowth { get; init; }
    public GrowthEstimate? HeapGrowth { get; init; }
    public long? MaxMemory { get; init; }
    /// <summary>Why file watching of the app is off, if it is (a problem of the whole app, shown on each instance).</summary>
    public string? WatchProblem { get; init; }
}

/// <summary>The warnings of a running instance, by the rules of <see cref="Thresholds"/>. Pure.</summary>
public static class InstanceWarnings
{
    public static IReadOnlyList<InstanceWarning> Of(WarningInputs i, DateTimeOffset now)
    {
        var list = new List<InstanceWarning>();
        if (i is { OpenFiles: { } files, MaxOpenFiles: { } max } && Thresholds.OpenFilesNear(files, max))
            list.Add(new(WarningKind.OpenFiles, $"open files {files} of {max} ({files * 100 / max} %): raise max_open_files, or look for a leak of files or sockets"));
        if (i.MemoryGrowth is { } g)
            list.Add(new(WarningKind.MemoryGrowth, $"memory growing {g.MbPerMinute:0.#} MB/min over {g.Span.TotalSeconds:0} s"
                + (g.TimeTo(i.MaxMemory) is { } t ? $", max_memory in about {About(t.TotalSeconds)}" : "")));
        if (i.Report is { } r && r.HeapLimit > 0)
        {
            if (Thresholds.HeapNear(r.HeapUsed, r.HeapLimit))
                list.Add(new(WarningKind.Heap, $"heap {r.HeapUsed >> 20} MiB of its {r.HeapLimit >> 20} MiB limit: raise max_old_space_size, or look for a leak"));
            else if (i.HeapGrowth is { } h && h.TimeTo(r.HeapLimit) is { } ht)
                list.Add(new(WarningKind.HeapGrowth, $"heap growing {h.MbPerMinute:0.#} MB/min, its limit in about {About(ht.TotalSeconds)}"));
        }
        if (i.Report is { } lag && Thresholds.Lagging(lag.LagP99))
            list.Add(new(WarningKind.EventLoopLag, $"event loop delay p99 {lag.LagP99:0} ms: something blocks it"));
        if (i.WatchProblem is { } watch) list.Add(new(WarningKind.Watch, watch));
        if (i is { Status: InstanceStatus.Online, HasIpc: true, ReportAt: { } seen } && Thresholds.Stalled(seen, now))
            list.Add(new(WarningKind.Stalled, $"no report from the event loop for {(now - seen).TotalSeconds:0} s: it is stalled"));
        return list;
    }

    /// <summary>The wire name of a kind, in `warning_kinds` of `nk status --json`.</summary>
    public static string Wire(this WarningKind kind) => kind switch
    {
        WarningKind.OpenFiles => "open_files",
        WarningKind.MemoryGrowth => "memory_growth",
        WarningKind.Heap => "heap_near_limit",
        WarningKind.HeapGrowth => "heap_growth",
        WarningKind.EventLoopLag => "event_loop",
        WarningKind.Watch => "watch",
        WarningKind.Stalled => "stalled",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>A time ahead, rounded to what a reader wants: seconds, minutes, or hours. In seconds as a double,
    /// because a slow rise towards a far limit can be further ahead than a TimeSpan reaches.</summary>
    public static string About(double seconds) =>
        seconds >= 7200 ? $"{seconds / 3600:0} h" : seconds >= 120 ? $"{seconds / 60:0} min" : $"{seconds:0} s";
}
