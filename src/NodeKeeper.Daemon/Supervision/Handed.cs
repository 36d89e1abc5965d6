using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// A run as one daemon image hands it to the next (`nk update`): its identity, the processes it spawned, where each
/// reader parked (null: that fd had ended), whether NodeKeeper had signalled it, the OOM kills counted at its launch, and
/// when that image found it ended (null: it had not, or an image that did not say).
/// </summary>
public sealed record HandedProcess(ProcessId Id, IReadOnlyList<ProcessId> Tree, ParkedReader? Out, ParkedReader? Err, ParkedReader? Ipc,
    bool Signalled, long? OomKillsAtLaunch, DateTimeOffset? EndedAt = null);

/// <summary>A timer armed by the previous image: it fires when it was due (at once when that has passed).</summary>
public sealed record HandedTimer(TimerKind Kind, int Generation, DateTimeOffset Due);

/// <summary>An event that was waiting for the instance when the image was replaced, and is posted to it again.</summary>
public sealed record HandedEvent(string Kind, string? Reason = null, IReadOnlyList<string>? Evidence = null)
{
    public static HandedEvent? Of(InstanceEvent e) => e switch
    {
        ReadyReported => new HandedEvent("ready"),
        StopRequested => new HandedEvent("stop"),
        RestartRequested r => new HandedEvent("restart", r.Reason, r.Evidence),
        _ => null,
    };

    public InstanceEvent Event() => Kind switch
    {
        "ready" => new ReadyReported(),
        "stop" => new StopRequested(),
        _ => new RestartRequested(Reason ?? ExitReasons.Restart, Evidence),
    };
}

/// <summary>One instance as handed on: its state, timers, history, stderr tail, its run, and the events waiting for it.</summary>
public sealed record HandedInstance(int Index, InstanceState State, IReadOnlyList<HandedTimer> Timers,
    IReadOnlyList<InstanceRunner.ExitRecord> History, string StderrTail, HandedProcess? Process, IReadOnlyList<HandedEvent> Queued);
