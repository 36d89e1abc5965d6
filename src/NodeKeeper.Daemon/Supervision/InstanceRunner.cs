using System.Net.Sockets;
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
/// The actor of one instance: the only reader of its event channel. It feeds events to the pure
/// <see cref="InstanceMachine"/> and carries out the commands that come back.
/// </summary>
public sealed class InstanceRunner : IAsyncDisposable
{
    private const int HistorySize = 20;
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(5);
    private readonly AppRuntime _app;
    private readonly DaemonContext _ctx;
    private readonly ILogger _log;
    private readonly Channel<InstanceEvent> _events = Channel.CreateUnbounded<InstanceEvent>(new() { SingleReader = true });
    private readonly CancellationTokenSource _life = new();
    private readonly Dictionary<TimerKind, CancellationTokenSource> _timers = new();
    private readonly Lock _treeLock = new();
    private HashSet<ProcessId> _knownTree = [];
    private readonly List<ExitRecord> _history = [];
    /// <summary>The classification and last figures of the process that just ended, for the exit the machine records.</summary>
    private (ExitDiagnosis Diagnosis, MetricsBefore Before)? _ended;
    private bool _signalled;
    private long? _oomKillsAtLaunch;
    private TaskCompletionSource _changed = NewSignal();
    private RunningProcess? _process;
    private CancellationTokenSource? _readiness;
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
            lock (replacing._history) _history.AddRange(replacing._history);
        }
    }

    public int Index { get; }
    public InstanceState State { get; private set; } = InstanceState.New;
    /// <summary>The latest sample of the running process; null until the sampler has seen it.</summary>
    public InstanceMetrics? Metrics { get; private set; }
    public StderrTail StderrTail { get; } = new();
    public ProcessId? Process => _process?.Id;
    /// <summary>The preload's latest report on this run (heap, event-loop delay, handles) and when it came.</summary>
    public PreloadReport? Report { get; private set; }
    /// <summary>Whether this run has the IPC channel (the preload's reports come over it).</summary>
    public bool HasIpc => _process?.Ipc is not null;
    /// <summary>Why the health monitor restarts this instance, for the exit it causes.</summary>
    public string? HealthEvidence { get; set; }
    public DateTimeOffset? ReportAt { get; private set; }
    /// <summary>Resident memory and heap of this run, watched for a steady rise (a leak).</summary>
    private readonly GrowthTrend _rssTrend = GrowthTrend.Default();
    private readonly GrowthTrend _heapTrend = GrowthTrend.Default();
    public GrowthEstimate? MemoryGrowth { get { lock (_rssTrend) return _rssTrend.Estimate(); } }
    public GrowthEstimate? HeapGrowth { get { lock (_heapTrend) return _heapTrend.Estimate(); } }

    /// <summary>Exits of this instance, newest last, each with the backoff delay chosen after it (null: none).</summary>
    public IReadOnlyList<ExitRecord> History { get { lock (_history) return [.. _history]; } }

    public void Run() => _loop = Task.Run(() => LoopAsync(_life.Token));

    public void Post(InstanceEvent e) => _events.Writer.TryWrite(e);

    /// <summary>Waits until the state satisfies the predicate.</summary>
    public async Task WaitAsync(Func<InstanceState, bool> until, CancellationToken ct)
    {
        while (true)
        {
            var signal = Volatile.Read(ref _changed);
            if (until(State)) return;
            await signal.Task.WaitAsync(ct);
        }
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var e in _events.Reader.ReadAllAsync(ct))
            {
                try { Apply(e); }
                catch (Exception ex) { _log.LogError(ex, "{App}:{Index}: failed to handle {Event}", _app.Name, Index, e); }
            }
        }
        catch (OperationCanceledException) { }
    }

    private void Apply(InstanceEvent e)
    {
        var before = State;
        var t = InstanceMachine.Handle(before, e, _app.Spec, _ctx.Clock.GetUtcNow());
        State = t.State;
        if (t.State.LastExit is { } exit && !ReferenceEquals(exit, before.LastExit))
        {
            var record = Explain(exit, t.State.Status == InstanceStatus.Backoff ? t.State.BackoffDelay : null);
            lock (_history) { _history.Add(record); if (_history.Count > HistorySize) _history.RemoveAt(0); }
            _log.LogInformation("{App}:{Index} exited (code {Code}, signal {Signal}, reason {Reason})",
                _app.Name, Index, exit.Code, exit.Signal, exit.Reason);
        }
        if (before.Status != t.State.Status)
            _log.LogInformation("{App}:{Index} {From} -> {To}", _app.Name, Index, before.Status.Wire(), t.State.Status.Wire());
        if (t.State.Status != InstanceStatus.Starting) CancelReadiness();
        foreach (var c in t.Commands) Execute(c);
        var old = Interlocked.Exchange(ref _changed, NewSignal());
        old.TrySetResult();
        _ctx.StateChanged();
    }

    /// <summary>An exit with its cause and evidence: from stderr for what the process did, from NodeKeeper for what it did.</summary>
    private ExitRecord Explain(ExitInfo exit, TimeSpan? delay)
    {
        var ended = _ended;
        _ended = null;
        var before = ended?.Before ?? Snapshot();
        var spec = _app.Spec;
        var (cause, evidence) = exit.Reason switch
        {
            ExitReasons.Health => ((string?)null, (IReadOnlyList<string>)(HealthEvidence is { } h ? [h] : [])),
            ExitReasons.MaxMemory => (null, [$"RSS {before.MemoryBytes / (1024 * 1024)} MiB passed max_memory ({spec.MaxMemory / (1024 * 1024)} MiB)"]),
            ExitReasons.NotReady => (null, [$"not ready within listen_timeout ({spec.ListenTimeout.TotalSeconds:0.##}s; ready = \"{spec.Ready.Word()}\")"]),
            ExitReasons.Stopped or ExitReasons.Restart or ExitReasons.Watch => (null, []),
            _ when ended is { } e => (e.Diagnosis.Cause, e.Diagnosis.Evidence.Select(l => l.Length <= 240 ? l : l[..240] + "…").ToList()),
            _ => (null, []),
        };
        HealthEvidence = null;
        return new ExitRecord(exit, delay, cause, evidence, before);
    }

    private MetricsBefore Snapshot()
    {
        var m = Metrics;
        var r = Report;
        return new MetricsBefore(m?.MemoryBytes, MemoryGrowth?.MbPerMinute is { } g ? Math.Round(g, 1) : null, r?.HeapUsed, r?.HeapLimit,
            r?.LagP99, m?.OpenFiles, m?.MaxOpenFiles);
    }

    private void Execute(InstanceCommand c)
    {
        switch (c)
        {
            case Launch: LaunchProcess(); break;
            case SignalTree s:
                var number = Signals.Number(s.Signal) ?? 15;
                if (_app.SharesPort && _process is { Ipc: not null } p) _ = RetireAsync(p, number);
                else SignalTree(number);
                break;
            case KillTree: SignalTree(Native.SIGKILL); break;
            case StartTimer t: Arm(t); break;
            case WatchReadiness: StartReadinessWatch(); break;
        }
    }

    private void LaunchProcess()
    {
        var spec = _app.Spec;
        string preload;
        try { preload = _ctx.PreloadFor(spec); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Refuse(spec, ex.Message, null);
            return;
        }
        var (file, args) = InstanceLaunch.CommandLine(spec, preload);
        var env = InstanceLaunch.Environment(spec, Index, _ctx.Home);
        var format = new LineFormat(spec.Instances > 1 ? $"[{Index}] " : null, spec.Log.Timestamps);
        var outFile = _app.Out;
        var errFile = _app.Err;
        StderrTail.Clear();
        lock (_treeLock) _knownTree = [];
        Metrics = null;
        Report = null;
        ReportAt = null;
        _signalled = false;
        _oomKillsAtLaunch = CgroupMemory.OomKills();
        lock (_rssTrend) _rssTrend.Reset();
        lock (_heapTrend) _heapTrend.Reset();
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
        try
        {
            var launch = new LaunchSpec(file, args, spec.Cwd, env,
                (s, ct) => LogPipe.PumpAsync(s, outFile, format, null, CancellationToken.None),
                (s, ct) => LogPipe.PumpAsync(s, errFile, format, StderrTail.Append, CancellationToken.None),
                WithIpcChannel: true,
                InheritedFd: sharedFd);
            var p = Launcher.Start(launch);
            _process = p;
            Post(new Spawned(p.Pid));
            _ = WatchExitAsync(p);
            if (p.Ipc is not null)
            {
                var spacing = InstanceLaunch.ReportInterval(env) / 2;
                // A blocking read on a small thread of its own: a report a second per instance then costs one wake-up,
                // not a trip through the socket engine and the thread pool.
                var reader = new Thread(() => ReadIpc(p, spacing), maxStackSize: 128 * 1024) { IsBackground = true, Name = $"ipc {_app.Name}:{Index}" };
                reader.Start();
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException or CliWrap.Exceptions.CliWrapException)
        {
            Refuse(spec, ex.Message, null);
        }
    }

    /// <summary>A launch that cannot happen: the reason goes to the app's error log, and the machine hears of it.</summary>
    private void Refuse(AppSpec spec, string error, string? reason)
    {
        var line = Encoding.UTF8.GetBytes($"nk: cannot start {spec.Name}: {error}\n");
        _app.Err.Write(line);
        StderrTail.Append(line);
        _log.LogWarning("{App}:{Index}: cannot start: {Error}", spec.Name, Index, error);
        _ended = (new ExitDiagnosis(reason ?? ExitReasons.Crash, null, [$"cannot start: {error}"]), Snapshot());
        Post(new SpawnFailed(error, reason));
    }

    private async Task WatchExitAsync(RunningProcess p)
    {
        await p.Exited.ConfigureAwait(false);
        var spec = _app.Spec;
        // What the app left behind (children holding its port or its pipes) ends with it, before any restart.
        var deadline = _ctx.Clock.GetUtcNow() + spec.KillTimeout;
        try
        {
            await ProcessTree.EndAsync(p.Pid, KnownTree(), Signals.Number(spec.KillSignal) ?? 15, deadline, _ctx.Clock, CancellationToken.None);
        }
        catch (Exception ex) { _log.LogWarning(ex, "{App}:{Index}: ending the process tree failed", spec.Name, Index); }

        int? code = null;
        string? signal = null;
        try
        {
            var raw = await p.Completed.WaitAsync(TimeSpan.FromSeconds(10));
            // .NET reports a death by signal N as 128 + N.
            if (raw > 128 && raw <= 128 + 64) signal = SignalName(raw - 128);
            else code = raw;
        }
        catch (TimeoutException)
        {
            _log.LogWarning("{App}:{Index}: its output pipes stay open after exit (an escaped process holds them)", spec.Name, Index);
        }
        // Its last lines are in the log files before anyone hears it ended: `nk stop` returns, `nk logs` shows them.
        // Bounded: a log on a hung disk must not hold up the restart.
        try { await Task.WhenAll(_app.Out.FlushAsync(), _app.Err.FlushAsync()).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
        catch (TimeoutException) { }
        catch (Exception ex) { _log.LogWarning(ex, "{App}:{Index}: flushing its logs after its exit failed", spec.Name, Index); } // the exit is posted all the same
        p.Dispose();
        if (ReferenceEquals(_process, p)) _process = null;
        var kernelOom = signal == "SIGKILL" && CgroupMemory.OomKills() is { } kills && _oomKillsAtLaunch is { } atLaunch && kills > atLaunch;
        var diagnosis = ExitClassifier.Classify(code, signal, StderrTail.Text(), _signalled, kernelOom);
        _ended = (diagnosis, Snapshot());
        // Crash, exit and signal are the machine's to tell (stop_exit_codes decide what a clean exit is); the rest name a cause.
        var specific = diagnosis.Reason is ExitReasons.Crash or ExitReasons.Exit or ExitReasons.Signal ? null : diagnosis.Reason;
        Post(new Exited(code, signal, specific));
    }

    /// <summary>Past this many reads of the channel in a second, an app sends faster than NodeKeeper ever needs.</summary>
    private const int FloodReads = 100;
    /// <summary>The pause after each read of a flooding app's channel: its messages then come in batches of up to a buffer.</summary>
    private static readonly TimeSpan FloodPause = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Reads the app's IPC channel until it closes. What an app sends costs the daemon a bounded amount, however fast it
    /// sends: lines are told apart by their first bytes (no text is made of a line the daemon does not use), long lines
    /// are skipped unread (<see cref="IpcLines"/>), reports closer together than <paramref name="reportSpacing"/> are
    /// ignored unparsed, and a flooding app is read in paced batches (its sends wait in the socket and then in the app
    /// itself) instead of a wake-up per message. Every line is still read, in order: "ready" and "drained" get through.
    /// </summary>
    private void ReadIpc(RunningProcess p, TimeSpan reportSpacing)
    {
        var buffer = Buffers.Pool.Rent(16 * 1024);
        var lines = new IpcLines();
        var lastReport = Environment.TickCount64 - (long)reportSpacing.TotalMilliseconds;
        var second = 0L;
        var reads = 0;
        // Held for as long as this thread reads: the fd is not closed (and its number not reused) under a read.
        var handle = p.Ipc!.SafeHandle;
        var held = false;
        try
        {
            handle.DangerousAddRef(ref held);
            var fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                var n = Native.ReadBlocking(fd, buffer);
                if (n <= 0) return;
                ReadOnlySpan<byte> chunk = buffer.AsSpan(0, n);
                while (lines.Next(ref chunk, out var line)) OnIpcMessage(line[System.Text.Ascii.Trim(line)], reportSpacing, ref lastReport);
                var now = Environment.TickCount64;
                if (now / 1000 != second) { second = now / 1000; reads = 0; }
                if (++reads > FloodReads) Thread.Sleep(FloodPause);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
        finally
        {
            if (held) handle.DangerousRelease();
            Buffers.Pool.Return(buffer);
        }
    }

    private TaskCompletionSource? _drained;

    /// <summary>
    /// Stops a shared-port instance without failing a request: the preload closes its listener (new connections go to
    /// other instances or wait in the backlog), lets every connection end after a response that says so, and says
    /// "drained" once none is left; only then does the app get kill_signal. drain_timeout is the most the draining may
    /// take; SIGKILL comes kill_timeout after the signal. The message is internal to Node's IPC (`cmd` "NODE_…"), so
    /// the app's own process.on('message') never sees it.
    /// </summary>
    private async Task RetireAsync(RunningProcess p, int signal)
    {
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _drained = drained;
        var spec = _app.Spec;
        var idle = _app.ReleasingPort ? "close" : "keep";
        var message = $"{{\"cmd\":\"NODE_NK_DRAIN\",\"idle\":\"{idle}\",\"ms\":{(long)spec.DrainTimeout.TotalMilliseconds}}}\n";
        try
        {
            await p.Ipc!.SendAsync(Encoding.UTF8.GetBytes(message), SocketFlags.None);
            await drained.Task.WaitAsync(spec.DrainTimeout);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or TimeoutException) { }
        if (ReferenceEquals(_process, p)) SignalTree(signal);
    }

    private void OnIpcMessage(ReadOnlySpan<byte> line, TimeSpan reportSpacing, ref long lastReport)
    {
        if (line.StartsWith("{\"nk\":\"drained\""u8)) { _drained?.TrySetResult(); return; }
        if (line.StartsWith("{\"nk\":\"metrics\""u8))
        {
            // The preload reports once an interval: what comes sooner is the app's own doing, and is not even parsed.
            var now = Environment.TickCount64;
            if (now - lastReport < (long)reportSpacing.TotalMilliseconds) return;
            lastReport = now;
            OnReport(line);
            return;
        }
        // process.send('ready') arrives as the JSON string "ready" (as PM2's wait_ready expects); the preload
        // reports {"nk":"listening"} once the app listens (on the shared socket, where probing the port proves nothing).
        var ready = _app.Spec.Ready switch
        {
            ReadyMode.Message => line.SequenceEqual("\"ready\""u8),
            ReadyMode.Listen => line.StartsWith("{\"nk\":\"listening\""u8),
            _ => false,
        };
        if (ready) Post(new ReadyReported());
    }

    private void OnReport(ReadOnlySpan<byte> json)
    {
        PreloadReport? report;
        try { report = System.Text.Json.JsonSerializer.Deserialize(json, ProtocolJson.Default.PreloadReport); }
        catch (System.Text.Json.JsonException) { return; }
        if (report is null) return;
        var now = _ctx.Clock.GetUtcNow();
        Report = report;
        ReportAt = now;
        lock (_heapTrend) _heapTrend.Add(now, report.HeapUsed);
    }

    private void StartReadinessWatch()
    {
        var spec = _app.Spec;
        // In shared mode the daemon's socket always accepts: the preload's report over IPC is the readiness.
        if (spec.Ready != ReadyMode.Listen || _app.SharesPort || InstanceLaunch.Port(spec, Index) is not { } port) return;
        CancelReadiness();
        var cts = new CancellationTokenSource();
        _readiness = cts;
        _ = ProbePortAsync(port, cts.Token);
    }

    private async Task ProbePortAsync(int port, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
                {
                    try
                    {
                        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
                        attempt.CancelAfter(1000);
                        await s.ConnectAsync(System.Net.IPAddress.Loopback, port, attempt.Token);
                        Post(new ReadyReported());
                        return;
                    }
                    catch (SocketException) { }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                }
                await Task.Delay(50, ct);
            }
        }
        catch (OperationCanceledException) { }
    }

    private void CancelReadiness()
    {
        _readiness?.Cancel();
        _readiness?.Dispose();
        _readiness = null;
    }

    private void Arm(StartTimer t)
    {
        if (_timers.Remove(t.Kind, out var old)) { old.Cancel(); old.Dispose(); }
        var cts = new CancellationTokenSource();
        _timers[t.Kind] = cts;
        _ = FireAsync(t, cts.Token);
    }

    private async Task FireAsync(StartTimer t, CancellationToken ct)
    {
        try { await Task.Delay(t.Delay, _ctx.Clock, ct); }
        catch (OperationCanceledException) { return; }
        Post(new TimerFired(t.Kind, t.Generation));
    }

    private void SignalTree(int signal)
    {
        if (_process is not { } p) return;
        _signalled = true;
        var members = ProcessTree.Members(p.Pid, KnownTree());
        lock (_treeLock) _knownTree.UnionWith(members);
        ProcessTree.Signal(members, signal);
    }

    private List<ProcessId> KnownTree() { lock (_treeLock) return [.. _knownTree]; }

    /// <summary>The processes of this instance the daemon knows of (for the state file).</summary>
    public List<ProcessId> KnownProcesses() => KnownTree();

    /// <summary>Takes a sample from the sampler; remembers the tree so escaped descendants still end with the app.</summary>
    public void UpdateMetrics(InstanceMetrics metrics, IEnumerable<ProcessId> tree)
    {
        Metrics = metrics;
        // The first seconds of a run are its warm-up, not a trend.
        if (State.StartedAt is { } at && _ctx.Clock.GetUtcNow() - at > WarmUp)
            lock (_rssTrend) _rssTrend.Add(_ctx.Clock.GetUtcNow(), metrics.MemoryBytes);
        lock (_treeLock)
        {
            _knownTree.RemoveWhere(k => !k.IsAlive());
            _knownTree.UnionWith(tree);
        }
    }

    /// <summary>The `nk status` row of this instance.</summary>
    public InstanceInfo Info()
    {
        var s = State;
        var now = _ctx.Clock.GetUtcNow();
        var running = s.HasProcess && s.Pid is not null;
        var m = running ? Metrics : null;
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
            Warnings = running ? Warnings(m, now) : null,
            OpenFiles = m?.OpenFiles,
            MaxOpenFiles = m?.MaxOpenFiles,
            Port = InstanceLaunch.Port(_app.Spec, Index),
            PortMode = _app.Spec.Port is null ? null : _app.Spec.PortMode.Word(),
            Ready = s.Status == InstanceStatus.Online,
            LastExit = s.LastExit is { } e ? new LastExit(e.Code, e.Signal, e.Reason, e.At) : null,
            Starts = s.Starts,
            UnstableRuns = s.UnstableRuns,
            BackoffMs = s.Status == InstanceStatus.Backoff && s.BackoffDelay is { } d ? (long)d.TotalMilliseconds : null,
        };
    }

    /// <summary>What needs the operator's eye in this run now (null when nothing).</summary>
    private List<string>? Warnings(InstanceMetrics? m, DateTimeOffset now)
    {
        var list = new List<string>();
        if (m is { OpenFiles: { } files, MaxOpenFiles: { } max } && max > 0 && files * 5 >= max * 4)
            list.Add($"open files {files} of {max} ({files * 100 / max} %): raise max_open_files, or look for a leak of files or sockets");
        if (MemoryGrowth is { } g)
        {
            var to = g.TimeTo(_app.Spec.MaxMemory);
            list.Add($"memory growing {g.MbPerMinute:0.#} MB/min over {g.Span.TotalSeconds:0} s" + (to is { } t ? $", max_memory in about {Human(t)}" : ""));
        }
        if (Report is { } r && r.HeapLimit > 0)
        {
            if (r.HeapUsed * 10 >= r.HeapLimit * 9)
                list.Add($"heap {r.HeapUsed >> 20} MiB of its {r.HeapLimit >> 20} MiB limit: raise max_old_space_size, or look for a leak");
            else if (HeapGrowth is { } h && h.TimeTo(r.HeapLimit) is { } ht)
                list.Add($"heap growing {h.MbPerMinute:0.#} MB/min, its limit in about {Human(ht)}");
        }
        if (Report is { LagP99: >= LagWarningMs } lag)
            list.Add($"event loop delay p99 {lag.LagP99:0} ms: something blocks it");
        if (_app.WatchProblem is { } watch) list.Add(watch);
        if (State.Status == InstanceStatus.Online && _process?.Ipc is not null && ReportAt is { } seen && now - seen > StallAfter)
            list.Add($"no report from the event loop for {(now - seen).TotalSeconds:0} s: it is stalled");
        return list.Count == 0 ? null : list;
    }

    public const double LagWarningMs = 500;
    public static readonly TimeSpan StallAfter = TimeSpan.FromSeconds(5);

    private static string Human(TimeSpan t) => t.TotalMinutes >= 120 ? $"{t.TotalHours:0} h" : t.TotalSeconds >= 120 ? $"{t.TotalMinutes:0} min" : $"{t.TotalSeconds:0} s";

    /// <summary>An exit in this instance's history: the backoff chosen after it, its cause and evidence, its last figures.</summary>
    public sealed record ExitRecord(ExitInfo Exit, TimeSpan? Delay, string? Cause, IReadOnlyList<string> Evidence, MetricsBefore Before);

    private static string SignalName(int number) =>
        Signals.Names.FirstOrDefault(n => Signals.Number(n) == number) ?? $"SIG{number}";

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _events.Writer.TryComplete();
        _life.Cancel();
        foreach (var t in _timers.Values) t.Cancel();
        CancelReadiness();
        try { await _loop; } catch (OperationCanceledException) { }
        _life.Dispose();
    }
}
