using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Apply;
using NodeKeeper.Daemon.Listeners;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.State;
using NodeKeeper.Daemon.Supervision;
using NodeKeeper.Daemon.Upgrade;

namespace NodeKeeper.Daemon.Control;

/// <summary>The Unix control socket: peer check, newline-delimited JSON framing, dispatch to the supervisor.</summary>
public sealed class ControlServer(Socket listener, Supervisor supervisor, ConfigApply config, Persistence persistence, DaemonContext ctx,
    IHostApplicationLifetime lifetime, SelfUpdate update)
    : BackgroundService, IHandOverConnections
{
    public const int MaxLine = Request.MaxLineBytes;
    private static readonly uint DaemonUid = Uids.Effective();

    /// <summary>
    /// The fds the daemon keeps for itself: control clients may not take them. Out of fds, the .NET runtime cannot start a
    /// thread (it needs a pipe and a few /proc and /sys reads) and aborts the process with "Out of memory."; a relaunch
    /// needs eight (three pipes and the IPC socket pair).
    /// </summary>
    public const int ReservedFds = 16;

    /// <summary>Every open connection, so that `nk update` can hand each one to the next image.</summary>
    private readonly ConcurrentDictionary<Connection, byte> _connections = new();
    /// <summary>Connections that stopped for a hand-over, with what they leave: some stop before the update asks (the supervisor gives their request up first).</summary>
    private readonly ConcurrentQueue<HandedConnection> _handed = new();
    private volatile bool _handingOver;
    private CancellationTokenSource _acceptStop = new();
    private TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Connection(Socket socket)
    {
        public Socket Socket { get; } = socket;
        /// <summary>Cancelled to stop a read that waits for the next request (the daemon is being handed over).</summary>
        public CancellationTokenSource Reading { get; } = new();
        /// <summary>Completes when this connection's loop has ended: closed, or handed over.</summary>
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool IsRequester { get; set; }
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (ctx.Inherited is { } inherited)
        {
            // The `nk update` that made this image hears how it went, on its own connection.
            var instances = supervisor.Apps.SelectMany(a => a.Instances).Count(i => i.Process is not null);
            var answer = new Response
            {
                Id = inherited.RequestId, Ok = true, Version = DaemonContext.Version, PreviousVersion = inherited.FromVersion, Pid = Environment.ProcessId,
                Message = $"daemon updated from {inherited.FromVersion} to {DaemonContext.Version} (pid {Environment.ProcessId}): {inherited.Apps.Count} app(s) and {instances} running instance(s) kept as they run",
            };
            Resume([.. inherited.Connections, .. inherited.Requester is { } r ? [r with { Waiting = answer }] : Array.Empty<HandedConnection>()], ct);
            // Under systemd (the previous image said RELOADING=1): serving again.
            SystemdNotify.Send($"READY=1\nSTATUS=nk update: daemon {DaemonContext.Version} serves");
        }
        var backoff = TimeSpan.Zero;
        bool holding = false, failing = false;
        while (!ct.IsCancellationRequested)
        {
            if (_handingOver)
            {
                // Connections wait in the backlog meanwhile: the next image (or this one, if the update is given up) takes them.
                try { await _resumed.Task.WaitAsync(ct); } catch (OperationCanceledException) { break; }
                continue;
            }
            Socket? client = null;
            // Clients that never hang up must not use the daemon's last fds: while too few are left, new connections
            // wait in the backlog (not refused) until some close. Said once per run in daemon.log.
            if (Native.OpenFilesSoftLimit() is { } limit && Native.OpenFdCount() is { } open && open + ReservedFds >= limit)
            {
                if (!holding)
                    ctx.Logger.LogWarning("{Open} of {Limit} fds open: new control connections wait until some close, keeping {Reserved} for the daemon's own use",
                        open, limit, ReservedFds);
                holding = true;
            }
            else
            {
                if (holding) ctx.Logger.LogInformation("fds free again: accepting control connections");
                holding = false;
                using var accepting = CancellationTokenSource.CreateLinkedTokenSource(ct, _acceptStop.Token);
                try { client = await listener.AcceptAsync(accepting.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { continue; }
                catch (OperationCanceledException) { break; }
                catch (SocketException ex)
                {
                    // Out of fds all the same (the limit lowered under the daemon) or another transient error: the pending
                    // connection stays in the backlog, so accept fails again at once; warned once per run of failures.
                    if (!failing) ctx.Logger.LogWarning("accept failed: {Error}; retrying with a backoff until it succeeds", ex.Message);
                    failing = true;
                }
            }
            if (client is null)
            {
                // Back off (5 ms doubling to 1 s) instead of spinning and filling daemon.log.
                backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(5) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.TicksPerSecond));
                try { await Task.Delay(backoff, ctx.Clock, ct); }
                catch (OperationCanceledException) { break; }
                continue;
            }
            if (failing) ctx.Logger.LogInformation("accept works again");
            failing = false;
            backoff = TimeSpan.Zero;
            _ = ServeAsync(client, null, ct);
        }
    }

    /// <summary>
    /// `nk update`: stops accepting (new connections wait in the backlog) and hands on every open connection but the
    /// requester's once it is between two requests, with what it had read and not handled: a request not started yet
    /// (one waiting for the supervisor's gate is given up by the supervisor), or one waiting for instances to settle.
    /// Connections that answer meanwhile (status) are answered first. Returns them, each with a close-on-exec copy of its
    /// fd; the originals are closed.
    /// </summary>
    public async Task<List<HandedConnection>> HandOverAsync(Socket requester, TimeSpan deadline)
    {
        _handingOver = true;
        await _acceptStop.CancelAsync();
        var handed = new List<HandedConnection>();
        var open = _connections.Keys.ToList();
        foreach (var c in open)
        {
            if (c.Socket == requester) { c.IsRequester = true; continue; }
            await c.Reading.CancelAsync();
        }
        foreach (var c in open.Where(c => !c.IsRequester))
        {
            try { await c.Ended.Task.WaitAsync(deadline); }
            catch (TimeoutException) { ctx.Logger.LogWarning("a control connection did not stop within {Deadline}: it is closed by the update", deadline); }
        }
        while (_handed.TryDequeue(out var h)) handed.Add(h);
        return handed;
    }

    /// <summary>Serves again: the connections handed over by the previous image, or by this one when the update was given up.</summary>
    public void Resume(IReadOnlyList<HandedConnection> handed, CancellationToken ct)
    {
        _acceptStop = new CancellationTokenSource();
        _handingOver = false;
        Interlocked.Exchange(ref _resumed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        foreach (var h in handed) _ = ServeAsync(InheritedSocket.Adopt(h.Fd), h, ct);
    }

    /// <summary>
    /// Serves one connection: a request per line, an answer per request. <paramref name="from"/>: a connection the
    /// previous image handed over, with its unread bytes and maybe a wait to finish.
    /// </summary>
    public async Task ServeAsync(Socket client, HandedConnection? from, CancellationToken ct)
    {
        var conn = new Connection(client);
        _connections.TryAdd(conn, 0);
        using var owned = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        // Bytes read and not yet handled: whole requests and the start of the next.
        var pending = new byte[4 * 1024];
        var length = 0;
        try
        {
            var uid = Uids.Peer(client);
            if (uid != DaemonUid && uid != 0)
            {
                ctx.Logger.LogWarning("refused a control connection from uid {Uid}", uid);
                await WriteAsync(stream, Response.Fail(0, $"uid {uid} may not control this daemon (it belongs to uid {DaemonUid})"), ct);
                return;
            }
            if (from?.Waiting is not null)
                await WriteAsync(stream, await FinishWaitAsync(from, ct), CancellationToken.None);
            if (from is not null)
            {
                Grow(ref pending, from.Unread.Length);
                from.Unread.CopyTo(pending, 0);
                length = from.Unread.Length;
            }
            while (true)
            {
                var newline = Array.IndexOf(pending, (byte)'\n', 0, length);
                if (newline < 0)
                {
                    if (length > MaxLine)
                    {
                        await WriteAsync(stream, Response.Fail(0, $"request line longer than {MaxLine} bytes: closing the connection"), ct);
                        return;
                    }
                    if (_handingOver && !conn.IsRequester) { Hand(client, pending.AsSpan(0, length)); return; }
                    Grow(ref pending, length + 4 * 1024);
                    int n;
                    try { n = await stream.ReadAsync(pending.AsMemory(length), conn.Reading.Token); }
                    catch (OperationCanceledException) when (_handingOver && !ct.IsCancellationRequested)
                    {
                        Hand(client, pending.AsSpan(0, length));
                        return;
                    }
                    if (n == 0) return;
                    length += n;
                    continue;
                }
                Response response;
                try { response = await HandleAsync(pending.AsMemory(0, newline), conn, ct); }
                catch (Supervisor.HandingOver h)
                {
                    // Not started: the next image reads the request again. Waiting: it waits on and answers.
                    var unread = h.Waiting is null ? pending.AsSpan(0, length) : pending.AsSpan(newline + 1, length - newline - 1);
                    Hand(client, unread, h);
                    return;
                }
                pending.AsSpan(newline + 1, length - newline - 1).CopyTo(pending);
                length -= newline + 1;
                // Answered even when the daemon is shutting down (nk kill, a cut-short reload), so the client hears it.
                await WriteAsync(stream, response, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        // Anything else is a bug of the daemon's: said in daemon.log, never a connection closed without a word (the
        // client says "the daemon closed the connection without answering" and points there).
        catch (Exception ex) { ctx.Logger.LogError(ex, "control connection failed: closing it"); }
        finally
        {
            _connections.TryRemove(conn, out _);
            conn.Ended.TrySetResult();
        }
    }

    private static void Grow(ref byte[] buffer, int needed)
    {
        if (buffer.Length < needed) Array.Resize(ref buffer, Math.Max(needed, buffer.Length * 2));
    }

    private void Hand(Socket client, ReadOnlySpan<byte> unread, Supervisor.HandingOver? waiting = null) =>
        _handed.Enqueue(new(Native.DupCloseOnExec((int)client.SafeHandle.DangerousGetHandle()), unread.ToArray(), waiting?.Waiting, waiting?.Until, waiting?.WaitMs));

    /// <summary>A request the previous image had acted on and was waiting to settle: waited on here until it was to end, then answered.</summary>
    private Task<Response> FinishWaitAsync(HandedConnection from, CancellationToken ct) =>
        supervisor.SettledAsync(from.Waiting!, from.WaitMs ?? 0, ct, from.WaitUntil ?? ctx.Clock.GetUtcNow());

    private async Task WriteAsync(Stream s, Response r, CancellationToken ct)
    {
        // Every answer says which daemon gave it: a client of another version says so (and suggests nk update).
        r = r with { Version = r.Version ?? DaemonContext.Version };
        using var buffer = new PooledWriter();
        try { Serialize(buffer, r); }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or InvalidOperationException or JsonException)
        {
            // An answer that cannot be written as JSON (a figure that is not a number) still gets one.
            ctx.Logger.LogError(ex, "the answer to request {Id} could not be written", r.Id);
            buffer.Clear();
            Serialize(buffer, Response.Fail(r.Id, $"the daemon could not write its answer: {ex.Message} (see {ctx.DaemonLogPath})"));
        }
        buffer.GetSpan(1)[0] = (byte)'\n';
        buffer.Advance(1);
        await s.WriteAsync(buffer.Written, ct);
    }

    private static void Serialize(PooledWriter buffer, Response r)
    {
        using var json = new Utf8JsonWriter(buffer);
        JsonSerializer.Serialize(json, r, ProtocolJson.Default.Response);
    }

    private async Task<Response> HandleAsync(ReadOnlyMemory<byte> line, Connection conn, CancellationToken ct)
    {
        Request? req;
        try { req = JsonSerializer.Deserialize(line.Span, ProtocolJson.Default.Request); }
        catch (JsonException ex) { return Response.Fail(0, $"malformed request: {ex.Message}"); }
        if (req is null) return Response.Fail(0, "malformed request: null");
        var response = await AnswerAsync(req, conn, ct);
        // A field sent as null or false asks for nothing: only those that would have changed something are named.
        var ignored = req.Unknown?.Where(f => f.Value.ValueKind is not (JsonValueKind.Null or JsonValueKind.False)).Select(f => f.Key).Order(StringComparer.Ordinal).ToList();
        return ignored is { Count: > 0 } ? response with { IgnoredFields = ignored } : response;
    }

    private async Task<Response> AnswerAsync(Request req, Connection conn, CancellationToken ct)
    {
        try
        {
            if (req.Cmd == Commands.Update) return await update.RunAsync(req, conn.Socket, this, ct);
            var answer = await supervisor.SettledAsync(await DispatchAsync(req, ct), req.WaitMs, ct);
            if (req.Cmd is not (Commands.Status or Commands.Describe or Commands.Why or Commands.Ping or Commands.Version or Commands.Profile or Commands.Heap)) ctx.SaveState?.Invoke();
            return answer;
        }
        catch (Supervisor.HandingOver) { throw; }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return Response.Fail(req.Id, $"the daemon is shutting down: {req.Cmd} was cut short, and every app is being stopped");
        }
        catch (Exception ex)
        {
            ctx.Logger.LogError(ex, "request {Cmd} failed", req.Cmd);
            return Response.Fail(req.Id, $"{req.Cmd} failed in the daemon: {ex.Message} (see {ctx.DaemonLogPath})");
        }
    }

    /// <summary>
    /// App names become file names (the default log files) and log lines: whatever a client sends, a name is one the
    /// config loader accepts (<see cref="AppNames"/>).
    /// </summary>
    public static string? InvalidName(IReadOnlyList<AppSpec?> apps)
    {
        foreach (var app in apps)
        {
            if (AppNames.Validate(app?.Name ?? "") is { } error) return $"invalid app name: {error}";
        }
        return null;
    }

    private async Task<Response> DispatchAsync(Request req, CancellationToken ct)
    {
        if (req.Apps is { } defs && InvalidName(defs) is { } invalid) return Response.Fail(req.Id, invalid);
        switch (req.Cmd)
        {
            case Commands.Ping:
                return new Response { Id = req.Id, Ok = true, Pid = Environment.ProcessId, Version = DaemonContext.Version, DaemonNotice = ctx.Notice };
            case Commands.Version:
                return new Response { Id = req.Id, Ok = true, Version = DaemonContext.Version, Pid = Environment.ProcessId, DaemonNotice = ctx.Notice };
            case Commands.Kill:
                _ = Task.Run(async () => { await Task.Yield(); lifetime.StopApplication(); }, CancellationToken.None);
                return new Response { Id = req.Id, Ok = true, Pid = Environment.ProcessId, Message = "daemon stopping" };
            case Commands.Save:
                return persistence.Save(req.Id, req.Force);
            case Commands.Resurrect:
                return await persistence.ResurrectAsync(req.Id, ct);
            case Commands.Start when req.Apps is { } apps:
                return await config.ApplyAsync(req.Id, apps, req.Daemon, req.ConfigPath, req.Prune, ct);
            case Commands.ReopenLogs:
                var reopened = await supervisor.ReopenLogsAsync("nk reopen-logs");
                return new Response { Id = req.Id, Ok = true, Message = $"reopened the log files of {reopened} app(s)" };
        }

        var (targets, error) = supervisor.Resolve(req.Names);
        if (error is not null) return Response.Fail(req.Id, error);
        switch (req.Cmd)
        {
            case Commands.Start: return await supervisor.StartAsync(req.Id, targets, ct);
            case Commands.Stop: return await supervisor.StopAsync(req.Id, targets, ct);
            case Commands.Restart: return await supervisor.RestartAsync(req.Id, targets, ct);
            case Commands.Reload when req.CanaryMs is < 0 or > 86_400_000:
                return Response.Fail(req.Id, "reload: canary_ms must be from 0 to 86400000 (a day)");
            case Commands.Reload when req.Apps is null && req.Reread: return await config.ReloadAsync(req.Id, targets, ct, Canary(req));
            case Commands.Reload: return await supervisor.ReloadAsync(req.Id, targets, req.Apps, ct, Canary(req));
            case Commands.Rollback: return await supervisor.RollbackAsync(req.Id, targets, ct);
            case Commands.Scale:
                if (req.Names is not { Count: 1 } || targets.Count != 1 || req.Count is not (>= 0 and <= 1024) )
                    return Response.Fail(req.Id, "scale takes one app name and a number of instances from 0 to 1024");
                return await supervisor.ScaleAsync(req.Id, targets[0], req.Count.Value, ct);
            case Commands.Delete: return await supervisor.DeleteAsync(req.Id, targets, ct);
            case Commands.Signal: return supervisor.SendSignal(req.Id, targets, req.Signal, req.Instance);
            case Commands.Flush: return await supervisor.FlushAsync(req.Id, targets);
            case Commands.Reset: return await supervisor.ResetAsync(req.Id, targets, ct);
            case Commands.Status: return new Response { Id = req.Id, Ok = true, Instances = supervisor.Status(targets), DaemonNotice = ctx.Notice };
            case Commands.Describe:
                // Every app named (or all) in `apps`, so that nk logs and nk reload ask once; the only one also in `app`.
                var described = targets.Select(t => supervisor.Describe(t, req.ShowEnv)).ToList();
                return new Response { Id = req.Id, Ok = true, App = described.Count == 1 ? described[0] : null, Apps = described };
            case Commands.Why: return new Response { Id = req.Id, Ok = true, Why = targets.Select(supervisor.Why).ToList() };
            case Commands.Profile or Commands.Heap when req.Names is not { Count: 1 } || targets.Count != 1 || req.Instance is < 0:
                return Response.Fail(req.Id, $"{req.Cmd} takes one app name (not all) and an instance number from 0");
            case Commands.Profile when req.CpuMs is <= 0 or > Supervisor.MaxCpuMs:
                return Response.Fail(req.Id, $"profile: cpu_ms must be from 1 to {Supervisor.MaxCpuMs} (ten minutes)");
            case Commands.Profile: return await supervisor.ProfileAsync(req.Id, targets[0], req.Instance ?? 0, req.CpuMs, req.Heap, ct);
            case Commands.Heap when req.GapMs is <= 0 or > 3_600_000:
                return Response.Fail(req.Id, "heap: gap_ms must be from 1 to 3600000 (an hour)");
            case Commands.Heap: return await supervisor.HeapAsync(req.Id, targets[0], req.Instance ?? 0, req.GapMs is { } g ? TimeSpan.FromMilliseconds(g) : null, ct);
            default:
                return Response.Fail(req.Id, $"unknown command \"{req.Cmd}\"");
        }
    }

    /// <summary>A reload's canary as the request asks (null: each app's reload.canary).</summary>
    private static TimeSpan? Canary(Request req) => req.CanaryMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
}
