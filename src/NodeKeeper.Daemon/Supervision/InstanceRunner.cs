using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Logs;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// The actor of one instance: the only reader of its event channel and the only writer of its state. It feeds events
/// to the pure <see cref="InstanceMachine"/> and carries out the commands that come back. The process of a run is a
/// <see cref="LiveProcess"/>, its IPC channel is read by <see cref="IpcReader"/>, its figures are kept in
/// <see cref="RunFigures"/>; what they learn comes back here as events, each carrying its data.
/// </summary>
public sealed partial class InstanceRunner : IAsyncDisposable
{
    private const int HistorySize = 20;
    private readonly AppRuntime _app;
    private readonly DaemonContext _ctx;
    private readonly ILogger _log;
    private readonly Channel<InstanceEvent> _events = Channel.CreateUnbounded<InstanceEvent>(new() { SingleReader = true });
    private readonly CancellationTokenSource _life = new();
    private readonly Dictionary<TimerKind, CancellationTokenSource> _timers = new();
    /// <summary>When each armed timer is due, and the generation it was armed in: `nk update` hands them on.</summary>
    private readonly Dictionary<TimerKind, HandedTimer> _due = new();
    private readonly List<ExitRecord> _history = [];
    private readonly RunFigures _figures = new();
    /// <summary>The latest state published, the end of the chain every waiter walks (see <see cref="WaitAsync"/>).</summary>
    private StateNode _latest = new(InstanceState.New);
    /// <summary>States applied by the Apply in progress (and the ones it led to), published in order once it is done.</summary>
    private readonly List<InstanceState> _unpublished = [];
    private int _applying;
    private LiveProcess? _process;
    private CancellationTokenSource? _readiness;
    /// <summary>What the readiness probe of ready = "health" last heard fail (set on its task, read when listen_timeout runs out).</summary>
    private string? _readinessFailure;
    private Task _loop = Task.CompletedTask;

    public InstanceRunner(AppRuntime app, int index, DaemonContext ctx, InstanceRunner? replacing = null)
    {
        _app = app;
        Index = index;
        _ctx = ctx;
        _log = ctx.Logger;
        if (replacing is not null)
        {
            // A reload's replacement carries on the instance's counts and history: for the user it is one instance.
            State = InstanceState.New with { Restarts = replacing.State.Restarts + 1, LastExit = replacing.State.LastExit };
            Publish(State);
            lock (replacing._history) _history.AddRange(replacing._history);
        }
    }

    public int Index { get; }
    public InstanceState State { get; private set; } = InstanceState.New;

    /// <summary>The latest sample of the running process; null until the sampler has seen it.</summary>
    public InstanceMetrics? Metrics => _figures.Metrics;
    public StderrTail StderrTail { get; } = new();
    public ProcessId? Process => _process?.Id;
    /// <summary>The preload's latest report on this run (heap, event-loop delay, handles) and when it came.</summary>
    public PreloadReport? Report => _figures.Report;
    public DateTimeOffset? ReportAt => _figures.ReportAt;
    /// <summary>Whether this run has the IPC channel (the preload's reports come over it).</summary>
    public bool HasIpc => _process?.Ipc is not null;
    /// <summary>Resident memory and heap of this run, watched for a steady rise (a leak).</summary>
    public GrowthEstimate? MemoryGrowth => _figures.MemoryGrowth;
    public GrowthEstimate? HeapGrowth => _figures.HeapGrowth;
    /// <summary>The event-loop delay (slowest turn) of this run's last reports, oldest first wherever the ring stands (order is not kept).</summary>
    public double[] RecentLags() => _figures.RecentLags();

    /// <summary>Exits of this instance, newest last, each with the backoff delay chosen after it (null: none).</summary>
    public IReadOnlyList<ExitRecord> History { get { lock (_history) return [.. _history]; } }

    public void Run() => _loop = Task.Run(() => LoopAsync(_life.Token));

    public void Post(InstanceEvent e) => _events.Writer.TryWrite(e);

    /// <summary>Waits until the state satisfies the predicate.</summary>
    public async Task WaitAsync(Func<InstanceState, bool> until, CancellationToken ct)
    {
        // Every state from the latest published on, in order: a passing one (backoff between two crashes, when the
        // next start is due at once) is seen even when the next was applied before this waiter ran again.
        var node = Volatile.Read(ref _latest);
        while (true)
        {
            if (until(node.State)) return;
            node = await node.Next.Task.WaitAsync(ct);
        }
    }

    /// <summary>One state the instance passed through, and the promise of the next one.</summary>
    private sealed class StateNode(InstanceState state)
    {
        public InstanceState State { get; } = state;
        public TaskCompletionSource<StateNode> Next { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Makes <paramref name="state"/> the latest, after the ones published before it.</summary>
    private void Publish(InstanceState state)
    {
        var node = new StateNode(state);
        Interlocked.Exchange(ref _latest, node).Next.TrySetResult(node);
    }

    // Events of this actor alone, never seen by the machine: what the sampler, the IPC reader and the exit watcher learnt.
    private sealed record HeapReview : InstanceEvent;
    private sealed record Ended(LiveProcess Process, Exited Exit) : InstanceEvent;
    private sealed record Freeze(TaskCompletionSource<FrozenInstance> Frozen, Task Thaw) : InstanceEvent;
    private sealed record SlotGranted(CpuGate.Ticket Ticket) : InstanceEvent;
    private sealed record StopSlotGranted(CpuGate Gate, CpuGate.Ticket Ticket) : InstanceEvent;
    /// <summary>A storm began at the start gate while this instance held a slot there.</summary>
    private sealed record SlotStorm(CpuGate.Ticket Ticket) : InstanceEvent;
    /// <summary>listen_timeout has passed (before any extension for the time the app waited for a CPU).</summary>
    private sealed record ListenTimeoutReached(LiveProcess Process) : InstanceEvent;
    private sealed record DrainEnded(LiveProcess Process) : InstanceEvent;

    /// <summary>The start gate's slot of the current launch (waited for, then held until the run is no longer starting).</summary>
    private CpuGate.Ticket? _slot;
    /// <summary>The current run was started at a lower weight (a storm's start) and has not had it raised yet.</summary>
    private bool _lowered;
    /// <summary>The run whose listen_timeout has passed (it is not lowered any more).</summary>
    private LiveProcess? _listenTimeoutPassed;
    /// <summary>Whether the current launch got its slot and spawned (or was refused).</summary>
    private bool _launched;
    /// <summary>The stop gate's slot of the current stop: asked for when its signal is due, held until the process ends
    /// or sleeps.</summary>
    private (CpuGate Gate, CpuGate.Ticket Ticket)? _stopSlot;
    /// <summary>A stop's signal not sent yet: whether the run drains first, and the kill timer that starts with the signal.</summary>
    private PendingStop? _pendingStop;
    private readonly record struct PendingStop(int Signal, bool Drain, StartTimer? Kill);

    private async Task LoopAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var e in _events.Reader.ReadAllAsync(ct))
            {
                if (e is Freeze f)
                {
                    // A stop waiting for its slot is sent now: the next image takes on a signalled run with its kill timer.
                    SendPendingStop();
                    // Nothing changes this instance until thawed (or the exec ends this image): later events wait in the channel.
                    f.Frozen.TrySetResult(new FrozenInstance(State, [.. _due.Values.Where(t => t.Generation == State.Generation)], History, StderrTail.Text(), _process));
                    await f.Thaw.WaitAsync(ct);
                    continue;
                }
                try { Handle(e); }
                catch (Exception ex) { _log.LogError(ex, "{App}:{Index}: failed to handle {Event}", _app.Name, Index, e); }
            }
        }
        catch (OperationCanceledException) { }
    }

    private void Handle(InstanceEvent e)
    {
        switch (e)
        {
            case HeapReview:
                WatchHeap();
                return;
            case CaptureTaken c:
                Taken(c.Notice);
                return;
            case SlotGranted g:
                if (!ReferenceEquals(g.Ticket, _slot) || State.Status != InstanceStatus.Starting || _launched)
                {
                    if (!ReferenceEquals(g.Ticket, _slot)) _ctx.Starts.Release(g.Ticket);
                    return;
                }
                _launched = true;
                LaunchProcess();
                if (_process is not { } spawned) return;
                _ctx.Starts.Watch(g.Ticket, spawned.Pid);
                if (g.Ticket.Storm) Lower();
                return;
            case SlotStorm g:
                if (ReferenceEquals(g.Ticket, _slot) && _launched) Lower();
                return;
            case DrainEnded d:
                // Drained (or drain_timeout passed): the signal asks for a slot of its own.
                if (!ReferenceEquals(d.Process, _process) || _pendingStop is not { Drain: false }) return;
                if (_stopSlot is { } drainSlot) { _stopSlot = null; drainSlot.Gate.Release(drainSlot.Ticket); }
                AskStopSlot();
                return;
            case StopSlotGranted g:
                if (!ReferenceEquals(g.Ticket, _stopSlot?.Ticket)) { g.Gate.Release(g.Ticket); return; }
                if (_pendingStop is null || _process is not { } stopping || State.Status != InstanceStatus.Stopping)
                {
                    GiveBackStopSlot();
                    return;
                }
                if (_pendingStop is { Drain: true } drain)
                {
                    _pendingStop = drain with { Drain = false };
                    _ = DrainAsync(stopping);
                }
                else SendPendingStop();
                // Held while the process works on it: until it sleeps (drained, or waiting for its last connections) or
                // ends; its exit (heard on SIGCHLD) lets the next go at once, before this loop hears of it.
                g.Gate.Watch(g.Ticket, stopping.Pid);
                stopping.Exited.ContinueWith(_ => g.Gate.Release(g.Ticket), TaskContinuationOptions.ExecuteSynchronously);
                return;
            case ListenTimeoutReached reached:
                // Lowered for a storm, it still gets its promised time at the usual weight: all of the CPU-wait extension.
                if (!ReferenceEquals(reached.Process, _process)) return;
                _listenTimeoutPassed = reached.Process;
                RaiseWeight();
                return;
            case Ended ended:
                if (ReferenceEquals(_process, ended.Process)) _process = null;
                ended.Process.Dispose();
                Apply(ended.Exit);
                return;
            default:
                Apply(e);
                return;
        }
    }

    private void Apply(InstanceEvent e)
    {
        var before = State;
        var t = InstanceMachine.Handle(before, e, _app.Spec, _ctx.Clock.GetUtcNow());
        State = t.State;
        _unpublished.Add(t.State);
        _applying++;
        try { Transition(before, t, e); }
        finally { _applying--; }
        // Waiters hear of a state once its commands have run; one Apply inside another (a launch's Spawned) is told
        // after the outer one's state, in the order they were applied.
        if (_applying > 0) return;
        foreach (var state in _unpublished) Publish(state);
        _unpublished.Clear();
        _ctx.StateChanged();
    }

    private void Transition(InstanceState before, Transition t, InstanceEvent e)
    {
        if (t.State.LastExit is { } exit && !ReferenceEquals(exit, before.LastExit))
        {
            var record = Explain(exit, t.State.Status == InstanceStatus.Backoff ? t.State.BackoffDelay : null, before, e);
            lock (_history) { _history.Add(record); if (_history.Count > HistorySize) _history.RemoveAt(0); }
            _log.LogInformation("{App}:{Index} exited (code {Code}, signal {Signal}, reason {Reason})",
                _app.Name, Index, exit.Code, exit.Signal, exit.Reason);
        }
        if (before.Status != t.State.Status)
            _log.LogInformation("{App}:{Index} {From} -> {To}", _app.Name, Index, before.Status.Wire(), t.State.Status.Wire());
        if (t.State.Status != InstanceStatus.Starting)
        {
            RaiseWeight();
            CancelReadiness();
            // listen_timeout is the machine's to ignore once the run is no longer starting; ended here, it neither wakes
            // a thread for every app started nor says in daemon.log that a ready app was not.
            Disarm(TimerKind.ListenTimeout);
        }
        // An app ready at spawn keeps its slot through its own start, until its process goes idle (the gate sees it).
        if (t.State.Status != InstanceStatus.Starting && !(t.State.Status == InstanceStatus.Online && _app.Spec.Ready == ReadyMode.Spawn))
            GiveBackSlot();
        if (t.State.Status != InstanceStatus.Stopping) GiveBackStopSlot();
        foreach (var c in t.Commands) Execute(c);
    }

    /// <summary>
    /// An exit with its cause and evidence, from the event that ended the run: the request that stopped it (what the
    /// health monitor or the sampler saw), or the process's own end (its diagnosis), or a launch that could not happen.
    /// </summary>
    private ExitRecord Explain(ExitInfo exit, TimeSpan? delay, InstanceState before, InstanceEvent e)
    {
        var (cause, evidence) = e switch
        {
            _ when before.Status == InstanceStatus.Stopping => (null, before.PendingEvidence ?? []),
            Exited { Diagnosis: { } d } => (d.Cause, d.Evidence), // lines already cut by the classifier (MaxEvidenceLineLength)
            SpawnFailed f => ((string?)null, (IReadOnlyList<string>)[$"cannot start: {f.Error}"]),
            _ => (null, []),
        };
        return new ExitRecord(exit, delay, cause, evidence, _figures.Snapshot());
    }

    private void Execute(InstanceCommand c)
    {
        switch (c)
        {
            case Launch: RequestLaunch(); break;
            case SignalTree s:
                var number = Signals.Number(s.Signal) ?? 15;
                if (_process is not { } p) break;
                GiveBackStopSlot();
                // The signal waits for a slot of the stop gate (at once when a few instances stop; in turn in a storm). A
                // shared-port instance drains first (its preload closes the listener and ends its connections), in a
                // slot too: 300 drains at once are 300 processes woken at once.
                _pendingStop = new PendingStop(number, _app.SharesPort && p.Ipc is not null, null);
                AskStopSlot();
                break;
            case KillTree: _process?.Signal(Native.SIGKILL); break;
            // kill_timeout counts from the signal, not from the request: a stop that drained or waited for its slot has
            // all of it.
            case StartTimer { Kind: TimerKind.Kill } t when _pendingStop is { Kill: null } pending:
                _pendingStop = pending with { Kill = t with { Delay = _app.Spec.KillTimeout } };
                break;
            case StartTimer t: Arm(t); break;
            case WatchReadiness: StartReadinessWatch(); break;
        }
    }

    /// <summary>Asks for a slot of the drain gate (a shared-port run that drains first) or of the stop gate.</summary>
    private void AskStopSlot()
    {
        var gate = _pendingStop is { Drain: true } ? _ctx.Drains : _ctx.Stops;
        _stopSlot = (gate, gate.Request(t => Post(new StopSlotGranted(gate, t))));
    }

    /// <summary>Drains a shared-port run (at most drain_timeout), then tells the loop, whatever happened: no kill timer
    /// runs before the signal, so a drain that failed must not leave the run without one.</summary>
    private async Task DrainAsync(LiveProcess p)
    {
        try { await p.DrainAsync(_app.ReleasingPort, _app.Spec.DrainTimeout).ConfigureAwait(false); }
        catch (Exception ex) { _log.LogWarning(ex, "{App}:{Index}: draining before the stop failed; it is signalled all the same", _app.Name, Index); }
        finally { Post(new DrainEnded(p)); }
    }

    /// <summary>
    /// Sends the stop's signal that waits (for the drain or a slot), if any, and starts its kill timer. At a freeze
    /// (`nk update`) it is sent at once, drained or not: the next image takes on a signalled run and its kill timer.
    /// </summary>
    private void SendPendingStop()
    {
        if (_pendingStop is not { } stop) return;
        _pendingStop = null;
        if (State.Status != InstanceStatus.Stopping || _process is not { } p) return;
        p.Signal(stop.Signal);
        if (stop.Kill is { } kill) Arm(kill);
    }

    /// <summary>
    /// A run that starts in a storm (more starting at once than the start gate lets through) starts at a lower weight, so
    /// that the daemon, `nk` and the apps already serving get the CPU first; raised again once it is no longer starting
    /// (Transition), or when its listen_timeout has passed: the time the CPU-wait rule adds is run at the usual weight.
    /// A stop is never lowered: its kill_timeout is wall-clock time, and at a tenth of the weight a handler's clean-up
    /// did not fit in it on a loaded machine.
    /// </summary>
    private void Lower()
    {
        if (!_lowered && State.Status == InstanceStatus.Starting && _process is { } p && !ReferenceEquals(p, _listenTimeoutPassed))
            _lowered = p.SetAutogroupNice(Autogroup.StormNice);
    }

    /// <summary>A run started at a lower weight (in a storm) gets the usual one back.</summary>
    private void RaiseWeight()
    {
        if (!_lowered) return;
        _lowered = false;
        _process?.SetAutogroupNice(0);
    }

    /// <summary>The stop is over (the run ended, or the instance is no longer stopping): its slot goes to the next, and
    /// a signal still waiting for one is not sent.</summary>
    private void GiveBackStopSlot()
    {
        _pendingStop = null;
        if (_stopSlot is not { } slot) return;
        _stopSlot = null;
        slot.Gate.Release(slot.Ticket);
    }

    /// <summary>A launch waits for a slot of the start gate (at once when a few instances start; in turn in a storm).</summary>
    private void RequestLaunch()
    {
        if (_slot is { } old) _ctx.Starts.Release(old);
        _launched = false;
        _slot = _ctx.Starts.Request(t => Post(new SlotGranted(t)), t => Post(new SlotStorm(t)));
    }

    /// <summary>
    /// The run is no longer starting (ready, ended, stopped): its slot goes to the next (a second release of a slot the
    /// gate freed for idleness does nothing). A stop that overtook a launch
    /// still waiting for its slot ends as the stop of a run that never started.
    /// </summary>
    private void GiveBackSlot()
    {
        if (_slot is not { } slot) return;
        _slot = null;
        _ctx.Starts.Release(slot);
        if (!_launched && State.Status == InstanceStatus.Stopping) Post(new SpawnFailed("stopped before it was started", null));
        _launched = false;
    }

    private void LaunchProcess()
    {
        var spec = _app.Spec;
        string? preload = null;
        try { if (spec.Node) preload = _ctx.PreloadFor(spec); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Refuse(spec, ex.Message, null);
            return;
        }
        var (file, args) = InstanceLaunch.CommandLine(spec, preload);
        var env = InstanceLaunch.Environment(spec, Index, _ctx.Home, spec.Node ? CaptureFolder(spec) : null);
        StderrTail.Clear();
        lock (_figuresLock) _figures.Reset();
        int? sharedFd = null;
        if (_app.SharesPort)
        {
            var (listener, error) = _app.AcquireListener();
            if (listener is null)
            {
                Refuse(spec, error!, ExitReasons.EaddrInUse);
                return;
            }
            sharedFd = listener.Fd;
            env["NK_LISTEN_FD"] = listener.Fd.ToString();
        }
        var slots = ReaderSlots.New();
        LiveProcess p;
        try { p = LiveProcess.Start(Pumps(file, args, env, slots, null) with { InheritedFd = sharedFd }, slots); }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException or CliWrap.Exceptions.CliWrapException)
        {
            Refuse(spec, ex.Message, null);
            return;
        }
        // Applied at once, not posted: an `nk update` freezing this loop next hands on the pid with the process (a
        // Spawned still queued would be dropped, and the next image would keep a run with no pid, readiness watch or
        // listen timeout).
        _process = p;
        Apply(new Spawned(p.Pid));
        _ = WatchEndAsync(p);
        if (p.Ipc is { } channel) IpcReader.Start(channel, InstanceLaunch.ReportInterval(env) / 2, new ChannelOf(this, p), slots.Ipc);
    }

    /// <summary>How a run's output is pumped into the app's log files (from where a previous daemon image left it, when adopted).</summary>
    private LaunchSpec Pumps(string file, List<string> args, Dictionary<string, string?> env, ReaderSlots slots, HandedProcess? handed)
    {
        var spec = _app.Spec;
        var format = new LineFormat(spec.Instances > 1 ? $"[{Index}] " : null, spec.Log.Timestamps);
        LineFormat Of(string type) => spec.Log.Format == LogFormat.Json ? format with { Json = new JsonLines(spec.Name, Index, type) } : format;
        var (outFormat, errFormat) = (Of("out"), Of("err"));
        var outFile = _app.Out;
        var errFile = _app.Err;
        return new LaunchSpec(file, args, spec.Cwd, env,
            (s, ct) => LogPipe.PumpAsync(s, outFile, outFormat, null, CancellationToken.None, slots.Out, handed?.Out),
            (s, ct) => LogPipe.PumpAsync(s, errFile, errFormat, StderrTail.Append, CancellationToken.None, slots.Err, handed?.Err),
            WithIpcChannel: spec.Node);
    }

    /// <summary>
    /// `nk update`: takes on the instance as the previous daemon image handed it over: its state, history and timers
    /// (each due when it was), and its running process with its pipes and IPC channel, read on from where they were left.
    /// </summary>
    public void Adopt(HandedInstance handed)
    {
        State = handed.State;
        Publish(State);
        lock (_history) _history.AddRange(handed.History);
        StderrTail.Append(Encoding.UTF8.GetBytes(handed.StderrTail));
        if (handed.Process is { } hp)
        {
            var env = InstanceLaunch.Environment(_app.Spec, Index, _ctx.Home);
            var slots = ReaderSlots.New();
            var p = LiveProcess.Adopt(hp, _ctx.Inherited?.WrittenAt, Pumps("", [], env, slots, hp), slots);
            _process = p;
            _ = WatchEndAsync(p);
            if (p.Ipc is { } channel)
                IpcReader.Start(channel, InstanceLaunch.ReportInterval(env) / 2, new ChannelOf(this, p), slots.Ipc, hp.Ipc);
        }
        var now = _ctx.Clock.GetUtcNow();
        foreach (var t in handed.Timers)
        {
            var left = t.Due - now;
            Arm(new StartTimer(t.Kind, left > TimeSpan.Zero ? left : TimeSpan.Zero, t.Generation));
        }
        // The previous image may have started it at a lower weight: raised like its own once it is no longer starting.
        _lowered = _process is not null && State.Status == InstanceStatus.Starting;
        if (State.Status == InstanceStatus.Starting && State.Pid is not null) StartReadinessWatch();
        // A launch the previous image had not started yet (waiting for its start gate): it waits here instead.
        if (State.Status == InstanceStatus.Starting && State.Pid is null && _process is null) RequestLaunch();
        foreach (var e in handed.Queued) Post(e.Event());
        Run();
    }

    /// <summary>
    /// Stops this instance's loop at a point between two events and says what it holds (`nk update`); it goes on when
    /// <paramref name="thaw"/> completes.
    /// </summary>
    public Task<FrozenInstance> FreezeAsync(Task thaw)
    {
        var frozen = new TaskCompletionSource<FrozenInstance>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_events.Writer.TryWrite(new Freeze(frozen, thaw))) frozen.TrySetCanceled();
        return frozen.Task;
    }

    /// <summary>
    /// While frozen: takes the events still waiting in the channel that must not be lost (a readiness the IPC reader
    /// saw, a restart or stop someone asked for), for the next daemon image or to be posted again when the update is
    /// given up. The rest (samples, reports, timers and ends, which the next image learns again) is dropped.
    /// </summary>
    public List<HandedEvent> TakeQueued()
    {
        var kept = new List<HandedEvent>();
        while (_events.Reader.TryRead(out var e))
            if (HandedEvent.Of(e) is { } h) kept.Add(h);
        return kept;
    }

    /// <summary>A launch that cannot happen: the reason goes to the app's error log, and the machine hears of it.</summary>
    private void Refuse(AppSpec spec, string error, string? reason)
    {
        var line = Encoding.UTF8.GetBytes($"nk: cannot start {spec.Name}: {error}\n");
        _app.Err.Write(line);
        StderrTail.Append(line);
        _log.LogWarning("{App}:{Index}: cannot start: {Error}", spec.Name, Index, error);
        Post(new SpawnFailed(error, reason));
    }

    /// <summary>Waits for the run's end, writes its last lines out, diagnoses it, and tells the loop.</summary>
    private async Task WatchEndAsync(LiveProcess p)
    {
        var spec = _app.Spec;
        // What the app left behind (children holding its port or its pipes) ends with it, before any restart.
        var end = await p.WaitEndAsync(Signals.Number(spec.KillSignal) ?? 15, _ctx.Clock.GetUtcNow() + spec.KillTimeout, _ctx.Clock).ConfigureAwait(false);
        if (end.TreeError is { } treeError) _log.LogWarning(treeError, "{App}:{Index}: ending the process tree failed", spec.Name, Index);
        if (end.PipesHeld) _log.LogWarning("{App}:{Index}: its output pipes stay open after exit (an escaped process holds them)", spec.Name, Index);
        // Its last lines are in the log files before anyone hears it ended: `nk stop` returns, `nk logs` shows them.
        // Bounded: a log on a hung disk must not hold up the restart.
        try { await Task.WhenAll(_app.Out.FlushAsync(), _app.Err.FlushAsync()).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
        catch (TimeoutException) { }
        catch (Exception ex) { _log.LogWarning(ex, "{App}:{Index}: flushing its logs after its exit failed", spec.Name, Index); } // the exit is posted all the same
        var diagnosis = ExitClassifier.Classify(end.Code, end.Signal, StderrTail.Text(), end.SignalledByUs, end.KernelOom);
        Post(new Ended(p, new Exited(end.Code, end.Signal, WithReport(diagnosis, p.Pid), end.At)));
    }

    /// <summary>
    /// What one run's IPC channel says, on the reader's thread: each becomes an event of this actor, except a drain,
    /// which ends that run's wait (not a later one's).
    /// </summary>
    private sealed class ChannelOf(InstanceRunner runner, LiveProcess process) : IIpcListener
    {
        public void Reported(PreloadReport report) => runner.TakeReport(report, process);
        public void ReadyMessage() { if (runner._app.Spec.Ready == ReadyMode.Message) runner.Post(new ReadyReported()); }
        public void Listening() { if (runner._app.Spec.Ready == ReadyMode.Listen) runner.Post(new ReadyReported()); }
        public void Drained() => process.Drained();
        public void Captured(CaptureNotice notice) { if (!process.Captured(notice)) runner.Post(new CaptureTaken(notice)); }
    }

    private void StartReadinessWatch()
    {
        var spec = _app.Spec;
        Volatile.Write(ref _readinessFailure, null);
        if (spec.Ready == ReadyMode.Health && spec.Health is { } health && HealthRule.InstanceUrl(spec, Index) is { } url)
        {
            _ = ProbeHealthAsync(url, health.Timeout, NewReadiness());
            return;
        }
        // In shared mode the daemon's socket always accepts: the preload's report over IPC is the readiness.
        if (spec.Ready != ReadyMode.Listen || _app.SharesPort || InstanceLaunch.Port(spec, Index) is not { } port) return;
        _ = ProbeAsync(port, NewReadiness());
    }

    private CancellationToken NewReadiness()
    {
        CancelReadiness();
        var cts = new CancellationTokenSource();
        _readiness = cts;
        return cts.Token;
    }

    private async Task ProbeAsync(int port, CancellationToken ct)
    {
        if (await PortProbe.WaitListeningAsync(port, ct)) Post(new ReadyReported());
    }

    private async Task ProbeHealthAsync(string url, TimeSpan timeout, CancellationToken ct)
    {
        // A probe of an earlier run, cancelled, must not leave its last answer to this run's evidence.
        if (await HttpProbe.WaitPassingAsync(url, timeout, failure => { if (!ct.IsCancellationRequested) Volatile.Write(ref _readinessFailure, failure); }, ct))
            Post(new ReadyReported());
    }

    private void CancelReadiness()
    {
        _readiness?.Cancel();
        _readiness?.Dispose();
        _readiness = null;
    }

    private void Arm(StartTimer t)
    {
        Disarm(t.Kind);
        var cts = new CancellationTokenSource();
        _timers[t.Kind] = cts;
        _due[t.Kind] = new HandedTimer(t.Kind, t.Generation, _ctx.Clock.GetUtcNow() + t.Delay);
        _ = FireAsync(t, t.Kind == TimerKind.ListenTimeout ? _process : null, cts.Token);
    }

    private void Disarm(TimerKind kind)
    {
        if (_timers.Remove(kind, out var old)) { old.Cancel(); old.Dispose(); }
        _due.Remove(kind);
    }

    /// <summary>Fires the timer; listen_timeout waits on by the time the app's main thread waited for a CPU (see
    /// <see cref="ReadinessDeadline"/>).</summary>
    private async Task FireAsync(StartTimer t, LiveProcess? starting, CancellationToken ct)
    {
        try
        {
            await Task.Delay(t.Delay, _ctx.Clock, ct);
            if (starting is not null) Post(new ListenTimeoutReached(starting));
            var extended = TimeSpan.Zero;
            while (starting?.Pid is { } p && SchedStat.Read(p) is { } sched
                   && ReadinessDeadline.Extension(t.Delay, TimeSpan.FromTicks(sched.WaitNs / 100), extended) is { } more)
            {
                if (extended == TimeSpan.Zero)
                    _log.LogInformation("{App}:{Index}: not ready after listen_timeout, but it waited {Waited:0.0} s for a CPU (the machine is busy): waiting that much longer",
                        _app.Name, Index, sched.WaitNs / 1e9);
                extended += more;
                await Task.Delay(more, _ctx.Clock, ct);
            }
        }
        catch (OperationCanceledException) { return; }
        Post(new TimerFired(t.Kind, t.Generation, t.Kind == TimerKind.ListenTimeout ? Volatile.Read(ref _readinessFailure) : null));
    }

    /// <summary>The processes of this instance the daemon knows of (for the state file).</summary>
    public List<ProcessId> KnownProcesses() => _process?.KnownTree() ?? [];

    /// <summary>
    /// A sample of <paramref name="root"/>'s run from the sampler (its thread): the figures, and the tree, so escaped
    /// descendants still end with the app. Taken in at once, not through the loop: an idle fleet's samples then wake no
    /// thread of the pool. A sample of a run that has ended meanwhile is dropped.
    /// </summary>
    public void UpdateMetrics(InstanceMetrics metrics, IEnumerable<ProcessId> tree, ProcessId root)
    {
        lock (_figuresLock)
        {
            if (_process is not { } p || p.Id != root) return;
            _figures.Sampled(metrics, _ctx.Clock.GetUtcNow(), State.StartedAt);
            p.Remember(tree);
        }
    }

    /// <summary>The preload's report on <paramref name="process"/>, from the IPC reader's thread: taken in at once; the loop
    /// hears of it only when the heap's trend may call for snapshots.</summary>
    private void TakeReport(PreloadReport report, LiveProcess process)
    {
        lock (_figuresLock)
        {
            if (!ReferenceEquals(_process, process)) return;
            _figures.Reported(report, _ctx.Clock.GetUtcNow(), State.StartedAt);
        }
        if (HeapWatchPossible()) Post(new HeapReview());
    }

    private readonly Lock _figuresLock = new();

    /// <summary>An instance as its loop froze it (`nk update`): state, armed timers, history, stderr tail, and its run.</summary>
    public sealed record FrozenInstance(InstanceState State, IReadOnlyList<HandedTimer> Timers, IReadOnlyList<ExitRecord> History, string StderrTail, LiveProcess? Process);

    /// <summary>An exit in this instance's history: the backoff chosen after it, its cause and evidence, its last figures.</summary>
    public sealed record ExitRecord(ExitInfo Exit, TimeSpan? Delay, string? Cause, IReadOnlyList<string> Evidence, MetricsBefore Before);

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _events.Writer.TryComplete();
        _life.Cancel();
        if (_slot is { } slot) _ctx.Starts.Release(slot);
        if (_stopSlot is { } stopSlot) stopSlot.Gate.Release(stopSlot.Ticket);
        foreach (var t in _timers.Values) t.Cancel();
        CancelReadiness();
        try { await _loop; } catch (OperationCanceledException) { }
        _life.Dispose();
    }
}
