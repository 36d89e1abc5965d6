using NodeKeeper.Core.Config;
using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>What status, describe and nk why show of one instance: its row, and the warnings of its run.</summary>
public sealed partial class InstanceRunner
{
    /// <summary>The `nk status` row of this instance.</summary>
    public InstanceInfo Info()
    {
        var s = State;
        var now = _ctx.Clock.GetUtcNow();
        var running = s.HasProcess && s.Pid is not null;
        var m = running ? Metrics : null;
        var warnings = running ? Warnings(m, now) : null;
        return new InstanceInfo
        {
            Name = _app.Name,
            Instance = Index,
            Pid = running ? s.Pid : null,
            Status = s.Status.Wire(),
            Restarts = s.Restarts,
            UptimeMs = running && s.StartedAt is { } at ? (long)(now - at).TotalMilliseconds : 0,
            CpuPercent = m is null ? null : Math.Round(m.CpuPercent, 1),
            MemoryBytes = m?.MemoryBytes,
            HeapUsedBytes = running ? Report?.HeapUsed : null,
            EventLoopLagMs = running ? Report?.LagP99 : null,
            HeapTotalBytes = running ? Report?.HeapTotal : null,
            HeapLimitBytes = running ? Report?.HeapLimit : null,
            EventLoopP50Ms = running ? Report?.LagP50 : null,
            ActiveHandles = running ? Report?.Handles : null,
            MemoryGrowthMbPerMin = running && MemoryGrowth is { } g ? Math.Round(g.MbPerMinute, 1) : null,
            Warnings = warnings?.Select(w => w.Text).ToList(),
            WarningKinds = warnings?.Select(w => w.Kind.Wire()).ToList(),
            OpenFiles = m?.OpenFiles,
            MaxOpenFiles = m?.MaxOpenFiles,
            Http = running ? Report?.Http : null,
            RequestsPerSecond = running && _figures.RequestsPerSecond is { } rps ? Math.Round(rps, 1) : null,
            Port = InstanceLaunch.Port(_app.Spec, Index),
            PortMode = _app.Spec.Port is null ? null : _app.Spec.PortMode.Word(),
            Program = Programs.Label(_app.Spec.Interpreter),
            Ready = s.Status == InstanceStatus.Online,
            LastExit = s.LastExit is { } e ? new LastExit(e.Code, e.Signal, e.Reason, e.At) : null,
            Starts = s.Starts,
            UnstableRuns = s.UnstableRuns,
            BackoffMs = s.Status == InstanceStatus.Backoff && s.BackoffDelay is { } d ? (long)d.TotalMilliseconds : null,
        };
    }

    /// <summary>What needs the operator's eye in this run now (null when nothing).</summary>
    private IReadOnlyList<InstanceWarning>? Warnings(InstanceMetrics? m, DateTimeOffset now)
    {
        var list = InstanceWarnings.Of(new WarningInputs
        {
            Status = State.Status, HasIpc = _process?.Ipc is not null, OpenFiles = m?.OpenFiles, MaxOpenFiles = m?.MaxOpenFiles,
            Report = Report, ReportAt = ReportAt, MemoryGrowth = MemoryGrowth, HeapGrowth = HeapGrowth,
            MaxMemory = _app.Spec.MaxMemory, WatchProblem = _app.WatchProblem,
        }, now);
        return list.Count == 0 ? null : list;
    }
}
