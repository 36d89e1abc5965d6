using System.Net.Sockets;
using System.Text;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// The process of one run of an instance: its identity (pid and start time), its IPC channel, the processes it spawned
/// that the daemon has seen, the signals sent to them, and its end. It knows nothing of the state machine: whoever owns
/// it (an <see cref="InstanceRunner"/>) hears of its end through <see cref="WaitEndAsync"/>, and could hand it on.
/// </summary>
public sealed class LiveProcess : IDisposable
{
    private readonly RunningProcess _process;
    private readonly Lock _treeLock = new();
    private HashSet<ProcessId> _knownTree = [];
    private readonly long? _oomKillsAtLaunch;
    private volatile bool _signalled;
    /// <summary>When the process was found ended (an adopted run: by the previous image, or by the time it handed it on).</summary>
    private long _endedAtTicks;
    private DateTimeOffset? EndedAt
    {
        get => Volatile.Read(ref _endedAtTicks) is var t and not 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;
        init => _endedAtTicks = value?.UtcTicks ?? 0;
    }
    private TaskCompletionSource? _drained;
    /// <summary>One message at a time on the IPC channel: a drain and a capture request must not interleave.</summary>
    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource<CaptureNotice>> _captures = new();
    private static long _captureIds;

    private LiveProcess(RunningProcess process, long? oomKillsAtLaunch, ReaderSlots slots)
    {
        _process = process;
        _oomKillsAtLaunch = oomKillsAtLaunch;
        Slots = slots;
    }

    /// <summary>Launches it; throws what <see cref="Launcher.Start"/> throws when it cannot start.</summary>
    public static LiveProcess Start(LaunchSpec launch, ReaderSlots slots)
    {
        var oomKills = CgroupMemory.OomKills();
        return new LiveProcess(Launcher.Start(launch), oomKills, slots);
    }

    /// <summary>
    /// Takes on a run an earlier image of this daemon launched (`nk update`), as that image left it at
    /// <paramref name="handedAt"/>. A run already ended by now is dated then: the new image's start (seconds on a loaded
    /// machine) must not count as time it ran, or a crash loop would look stable and its backoff start over.
    /// </summary>
    public static LiveProcess Adopt(HandedProcess handed, DateTimeOffset? handedAt, LaunchSpec pumps, ReaderSlots slots)
    {
        var endedAt = handed.EndedAt ?? (handed.Id.IsAlive() ? null : handedAt);
        var running = Launcher.Adopt(handed.Id, handed.Out?.Fd, handed.Err?.Fd, handed.Ipc?.Fd, pumps.Stdout, pumps.Stderr);
        var p = new LiveProcess(running, handed.OomKillsAtLaunch, slots) { _signalled = handed.Signalled, EndedAt = endedAt };
        p.Remember(handed.Tree);
        return p;
    }

    /// <summary>Where the readers of this run's pipes and IPC channel park during `nk update`.</summary>
    public ReaderSlots Slots { get; }

    /// <summary>What `nk update` hands on of this run, given where its readers parked.</summary>
    public HandedProcess Hand(ParkedReader? stdout, ParkedReader? stderr, ParkedReader? ipc) =>
        new(Id, KnownTree(), stdout, stderr, Ipc is null ? null : ipc, _signalled, _oomKillsAtLaunch, EndedAt);

    public ProcessId Id => _process.Id;
    public int Pid => _process.Pid;
    /// <summary>Completes once the process has exited and was reaped (its children may live on).</summary>
    public Task Exited => _process.Exited;
    /// <summary>The daemon's end of the Node IPC channel, when the process has one.</summary>
    public Socket? Ipc => _process.Ipc;

    /// <summary>Every process of this run the daemon has seen (for the state file, and to end escaped descendants).</summary>
    public List<ProcessId> KnownTree() { lock (_treeLock) return [.. _knownTree]; }

    /// <summary>Remembers the tree a sample found, so descendants that escape later still end with the app.</summary>
    public void Remember(IEnumerable<ProcessId> tree)
    {
        lock (_treeLock)
        {
            _knownTree.RemoveWhere(k => !k.IsAlive());
            _knownTree.UnionWith(tree);
        }
    }

    /// <summary>Sets the nice value of the run's autogroup (see <see cref="Autogroup"/>), while the process is still the
    /// one spawned (not ended, same start time); false when it was not set.</summary>
    public bool SetAutogroupNice(int nice) => Autogroup.Enabled && EndedAt is null && Id.IsAlive() && Autogroup.SetNice(Pid, nice);

    /// <summary>Sends <paramref name="signal"/> to the process and every descendant, found now or seen before.</summary>
    public void Signal(int signal)
    {
        _signalled = true;
        var members = ProcessTree.RunningMembers(Pid, KnownTree());
        lock (_treeLock) _knownTree.UnionWith(members);
        ProcessTree.SignalRunning(Pid, members, signal);
    }

    /// <summary>
    /// Drains a shared-port instance so that it can stop without failing a request: the preload closes its listener (new
    /// connections go to other instances or wait in the backlog), lets every connection end after a response that says
    /// so, and says "drained" once none is left; only then does the app get its stop signal (from its runner).
    /// <paramref name="drainTimeout"/> is the most the draining may take. The message is internal to Node's IPC (`cmd`
    /// "NODE_…"), so the app's own process.on('message') never sees it. <paramref name="closeIdle"/>: nothing will take
    /// the keep-alive connections (the port is let go), so idle ones close at once.
    /// </summary>
    public async Task DrainAsync(bool closeIdle, TimeSpan drainTimeout)
    {
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _drained = drained;
        var message = $"{{\"cmd\":\"NODE_NK_DRAIN\",\"idle\":\"{(closeIdle ? "close" : "keep")}\",\"ms\":{(long)drainTimeout.TotalMilliseconds}}}\n";
        // The send is bounded too: a channel whose buffer the app never reads must not hold the stop up.
        try { await SendThenWait().WaitAsync(drainTimeout); }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or TimeoutException) { }

        async Task SendThenWait()
        {
            await SendAsync(message);
            await drained.Task;
        }
    }

    /// <summary>The preload said it has no connection left (from the IPC reader).</summary>
    public void Drained() => _drained?.TrySetResult();

    private async Task SendAsync(string message)
    {
        await _sending.WaitAsync();
        // Every message the daemon sends asks for an answer (drained, captured): it is read in short rounds.
        FdReactor.Ipc.Hurry();
        try { await Ipc!.SendAsync(Encoding.UTF8.GetBytes(message), SocketFlags.None); }
        finally { _sending.Release(); }
    }

    /// <summary>
    /// Asks the preload for a capture ("heap": a heap snapshot; "cpu": a CPU profile of <paramref name="ms"/>) and waits
    /// for its word, at most <paramref name="timeout"/>: the notice names the file written, or the error. The request is an
    /// internal IPC message (`cmd` "NODE_…"): the app's own process.on('message') never sees it.
    /// </summary>
    public async Task<CaptureNotice> CaptureAsync(string kind, long ms, TimeSpan timeout, CancellationToken ct)
    {
        if (Ipc is null) return new CaptureNotice { Kind = kind, Error = "this run has no IPC channel (it was not started by this daemon's preload)" };
        var id = Interlocked.Increment(ref _captureIds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<CaptureNotice>(TaskCreationOptions.RunContinuationsAsynchronously);
        _captures[id] = answer;
        try
        {
            await SendAsync($"{{\"cmd\":\"NODE_NK_CAPTURE\",\"kind\":\"{kind}\",\"id\":\"{id}\",\"ms\":{ms}}}\n");
            return await answer.Task.WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
            return new CaptureNotice { Kind = kind, Error = $"no answer from the instance within {timeout.TotalSeconds:0} s (is its event loop blocked?)" };
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return new CaptureNotice { Kind = kind, Error = $"the instance's IPC channel is gone ({ex.Message})" };
        }
        finally { _captures.TryRemove(id, out _); }
    }

    /// <summary>The preload's word on a capture asked for (from the IPC reader); false when nobody waits for it.</summary>
    public bool Captured(CaptureNotice notice) => notice.Id is { } id && _captures.TryGetValue(id, out var answer) && answer.TrySetResult(notice);

    /// <summary>
    /// How the run ended: its status, whether NodeKeeper signalled it, whether the kernel's OOM killer did, and when its
    /// process was found ended (<see cref="At"/>, before its tree was ended and its pipes drained).
    /// </summary>
    public sealed record End(int? Code, string? Signal, bool SignalledByUs, bool KernelOom, bool PipesHeld, Exception? TreeError, DateTimeOffset At);

    /// <summary>
    /// Waits for the process to exit, then ends what it left behind (children holding its port or its pipes) with
    /// <paramref name="killSignal"/> and SIGKILL by <paramref name="deadline"/>, and waits (10 s at most) for its output
    /// pipes to drain. Never throws: a failure to end the tree comes back in <see cref="End.TreeError"/>.
    /// </summary>
    public async Task<End> WaitEndAsync(int killSignal, DateTimeOffset deadline, TimeProvider clock)
    {
        await _process.Exited.ConfigureAwait(false);
        if (EndedAt is not { } at) Volatile.Write(ref _endedAtTicks, (at = clock.GetUtcNow()).UtcTicks);
        Exception? treeError = null;
        try { await ProcessTree.EndAsync(Pid, KnownTree(), killSignal, deadline, clock, CancellationToken.None); }
        catch (Exception ex) { treeError = ex; } // the exit is reported all the same
        int? code = null;
        string? signal = null;
        var held = false;
        try
        {
            var raw = await _process.Completed.WaitAsync(TimeSpan.FromSeconds(10));
            // .NET reports a death by signal N as 128 + N; -1: an adopted process whose status an earlier image took.
            if (raw < 0) { }
            else if (raw > 128 && raw <= 128 + 64) signal = Signals.NameOf(raw - 128);
            else code = raw;
        }
        catch (TimeoutException) { held = true; }
        var kernelOom = signal == "SIGKILL" && CgroupMemory.OomKills() is { } kills && _oomKillsAtLaunch is { } atLaunch && kills > atLaunch;
        return new End(code, signal, _signalled, kernelOom, held, treeError, at);
    }

    public void Dispose() => _process.Dispose();
}

/// <summary>The slots of one run's three readers: stdout, stderr and the IPC channel.</summary>
public sealed record ReaderSlots(ReaderSlot Out, ReaderSlot Err, ReaderSlot Ipc)
{
    public static ReaderSlots New() => new(new ReaderSlot(), new ReaderSlot(), new ReaderSlot());
}
