using NodeKeeper.Core.Config;
using NodeKeeper.Core.Rendering;

namespace NodeKeeper.Core.Supervision;

/// <summary>Where an instance stands after a command that (re)started it.</summary>
public enum SettleOutcome { Pending, Ready, Failed }

/// <summary>The verdict on one instance, with the status and last exit it was decided on.</summary>
public sealed record Settled(SettleOutcome Outcome, InstanceStatus Status, ExitInfo? LastExit)
{
    public bool IsPending => Outcome == SettleOutcome.Pending;

    /// <summary>Why a failed instance failed, as `nk` prints it after "NAME:INDEX ", its last exit told as of <paramref name="now"/>.</summary>
    public string Why(DateTimeOffset now) =>
        $"is {Status.Wire()}, last exit: {Render.LastExit(LastExit is { } e ? new Protocol.LastExit(e.Code, e.Signal, e.Reason, e.At) : null, now)}";
}

/// <summary>
/// The one answer to "has this instance settled since the command?", asked by the CLI's wait, reload, the rolling
/// restarts of health and watch, and `nk run`. A command counts from the instance's launch count when it was posted:
/// until a new process was launched nothing has happened yet (the command may still sit in the instance's mailbox, so
/// the stopped or errored state seen then is the old one). After a launch, online is ready; errored, stopped and
/// backoff are failures: a run that exited and waits in backoff did not come up for this command, whatever a later
/// retry does.
/// </summary>
public static class Settle
{
    /// <summary>How long a rolling restart waits for one instance: its stop, its readiness, and some slack.</summary>
    public static TimeSpan Deadline(AppSpec spec) => spec.StopTimeout + spec.ListenTimeout + TimeSpan.FromSeconds(5);

    public static Settled Of(InstanceState s, int startsBefore)
    {
        var outcome = s.Starts <= startsBefore ? SettleOutcome.Pending : s.Status switch
        {
            InstanceStatus.Online => SettleOutcome.Ready,
            InstanceStatus.Backoff or InstanceStatus.Errored or InstanceStatus.Stopped => SettleOutcome.Failed,
            _ => SettleOutcome.Pending,
        };
        return new Settled(outcome, s.Status, s.LastExit);
    }

    /// <summary>
    /// `nk run`: the instance ran and is down for good, as every instance must be before the container exits. A failure
    /// in backoff is not: it starts again by itself.
    /// </summary>
    public static bool IsDown(InstanceState s) => Of(s, startsBefore: 0) is { Outcome: SettleOutcome.Failed, Status: not InstanceStatus.Backoff };
}
