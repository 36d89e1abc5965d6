using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// Waits for the daemon's children: the apps it spawned (<see cref="Launcher.Start"/>) and the ones an earlier image
/// left it across `nk update`, each with its exit status; and reaps processes reparented to the daemon (it is a child
/// subreaper). A child .NET started itself (System.Diagnostics.Process) is never waited for here.
/// </summary>
public static class OrphanReaper
{
    private static readonly ConcurrentDictionary<int, TaskCompletionSource<int>> Adopted = new();
    private static readonly int Self = Environment.ProcessId;

    /// <summary>Held while a child is being spawned, so a fresh child is registered before anyone may reap it.</summary>
    public static readonly Lock SpawnLock = new();

    /// <summary>
    /// Takes on a child of the daemon's that .NET does not know (one spawned by <see cref="Launcher.Start"/>, under
    /// SpawnLock, or one an earlier image of this daemon started before `nk update`): its end is waited for here, on
    /// SIGCHLD. Completes with its exit code, 128 + the signal that ended it, or -1 when its status was taken before the
    /// exec.
    /// </summary>
    public static Task<int> Adopt(int pid)
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Adopted[pid] = done;
        // It may have ended during the exec, when no handler heard its SIGCHLD. Only this one: on the spawn path, a
        // look at every other child would cost a system call per app for each app started.
        Collect(pid);
        return done.Task;
    }

    private static void CollectAdopted()
    {
        foreach (var (pid, _) in Adopted) Collect(pid);
    }

    /// <summary>
    /// Takes an adopted child's status once it has exited; true when it had. One at a time: the SIGCHLD handler and the
    /// sampler's pass may both come for the same child, and the second waitpid would find no child (a status of -1).
    /// </summary>
    private static bool Collect(int pid)
    {
        lock (CollectLock)
        {
            if (!Adopted.TryGetValue(pid, out var done) || Native.TryWaitChild(pid) is not { } status) return false;
            Adopted.TryRemove(pid, out _);
            done.TrySetResult(status);
            return true;
        }
    }

    private static readonly Lock CollectLock = new();

    /// <summary>
    /// Takes the status of every child of the daemon's that has exited: an adopted one completes its task, an orphan is
    /// reaped. waitid(WNOWAIT) names an exited child without reaping it, so while none has exited this costs one system
    /// call, however many apps run; a child .NET started itself is left to .NET, and then the children are scanned.
    /// </summary>
    /// <remarks>
    /// One pass at a time: SIGCHLD handlers run on pool threads, and a storm of exits ran several passes at once, which
    /// took the same child from each other and then scanned every child for nothing. A call while a pass runs asks that
    /// pass to go round once more, and returns.
    /// </remarks>
    public static void ReapAll()
    {
        if (Interlocked.Increment(ref _reapCalls) != 1) return;
        int calls;
        do
        {
            calls = Volatile.Read(ref _reapCalls);
            ReapPass();
        } while (Interlocked.Add(ref _reapCalls, -calls) != 0);
    }

    private static int _reapCalls;

    private static void ReapPass()
    {
        while (Native.PeekExitedChild() is > 1 and var pid)
        {
            if (Collect(pid)) continue;
            if (!Reap(pid)) { ScanAll(); return; }
        }
    }

    /// <summary>Every adopted child, and every zombie orphan in /proc/self/task/*/children.</summary>
    private static void ScanAll()
    {
        if (!Adopted.IsEmpty) CollectAdopted();
        foreach (var pid in ProcChildren.OfDaemon())
            if (ProcStat.Read(pid) is { IsZombie: true }) Reap(pid);
    }

    /// <summary>
    /// Reaps orphans as soon as SIGCHLD says a child ended, so an app's grandchild is no zombie for seconds (the
    /// sampler's pass stays as a backstop). .NET goes on reaping its own children after this handler runs.
    /// </summary>
    public static IDisposable ReapOnSigchld() => PosixSignalRegistration.Create(PosixSignal.SIGCHLD, _ => ReapAll());

    /// <summary>Reaps one pid if it is a zombie orphan of the daemon (not adopted, not one of .NET's); true when it did.</summary>
    public static bool Reap(int pid)
    {
        lock (SpawnLock)
        {
            if (pid <= 1 || Adopted.ContainsKey(pid) || DotNets.ContainsKey(pid)) return false;
            return ProcStat.Read(pid) is { IsZombie: true } st && st.Ppid == Self && Native.TryReap(pid);
        }
    }

    /// <summary>Marks a child .NET started (System.Diagnostics.Process, under SpawnLock): .NET takes its status, never this.</summary>
    public static void RegisterDotNetChild(int pid) => DotNets[pid] = 0;

    /// <summary>Forgets a child .NET has reaped.</summary>
    public static void ForgetDotNetChild(int pid) => DotNets.TryRemove(pid, out _);

    private static readonly ConcurrentDictionary<int, byte> DotNets = new();
}
