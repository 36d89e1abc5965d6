using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Apply;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.State;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.Daemon.Control;

/// <summary>The Unix control socket: peer check, newline-delimited JSON framing, dispatch to the supervisor.</summary>
public sealed class ControlServer(Socket listener, Supervisor supervisor, ConfigApply config, Persistence persistence, DaemonContext ctx,
    IHostApplicationLifetime lifetime)
    : BackgroundService
{
    public const int MaxLine = Request.MaxLineBytes;
    private static readonly uint DaemonUid = Uids.Effective();

    /// <summary>
    /// The fds the daemon keeps for itself: control clients may not take them. Out of fds, the .NET runtime cannot start a
    /// thread (it needs a pipe and a few /proc and /sys reads) and aborts the process with "Out of memory."; a relaunch
    /// needs eight (three pipes and the IPC socket pair).
    /// </summary>
    public const int ReservedFds = 16;

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.Zero;
        bool holding = false, failing = false;
        while (!ct.IsCancellationRequested)
        {
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
                try { client = await listener.AcceptAsync(ct); }
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
            _ = ServeAsync(client, ct);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken ct)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            var uid = Uids.Peer(client);
            if (uid != DaemonUid && uid != 0)
            {
                ctx.Logger.LogWarning("refused a control connection from uid {Uid}", uid);
                await WriteAsync(stream, Response.Fail(0, $"uid {uid} may not control this daemon (it belongs to uid {DaemonUid})"), ct);
                return;
            }
            var buffer = new byte[64 * 1024];
            var line = new MemoryStream();
            while (true)
            {
                var n = await stream.ReadAsync(buffer, ct);
                if (n == 0) return;
                var start = 0;
                for (var i = 0; i < n; i++)
                {
                    if (buffer[i] != (byte)'\n') continue;
                    line.Write(buffer, start, i - start);
                    start = i + 1;
                    var response = await HandleAsync(line.GetBuffer().AsMemory(0, (int)line.Length), ct);
                    line.SetLength(0);
                    // Answered even when the daemon is shutting down (nk kill, a cut-short reload), so the client hears it.
                    await WriteAsync(stream, response, CancellationToken.None);
                }
                line.Write(buffer, start, n - start);
                if (line.Length > MaxLine)
                {
                    await WriteAsync(stream, Response.Fail(0, $"request line longer than {MaxLine} bytes: closing the connection"), ct);
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        // Anything else is a bug of the daemon's: said in daemon.log, never a connection closed without a word (the
        // client says "the daemon closed the connection without answering" and points there).
        catch (Exception ex) { ctx.Logger.LogError(ex, "control connection failed: closing it"); }
    }

    private async Task WriteAsync(Stream s, Response r, CancellationToken ct)
    {
        byte[] bytes;
        try { bytes = JsonSerializer.SerializeToUtf8Bytes(r, ProtocolJson.Default.Response); }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or InvalidOperationException or JsonException)
        {
            // An answer that cannot be written as JSON (a figure that is not a number) still gets one.
            ctx.Logger.LogError(ex, "the answer to request {Id} could not be written", r.Id);
            bytes = JsonSerializer.SerializeToUtf8Bytes(Response.Fail(r.Id, $"the daemon could not write its answer: {ex.Message} (see {ctx.DaemonLogPath})"),
                ProtocolJson.Default.Response);
        }
        await s.WriteAsync(bytes, ct);
        await s.WriteAsync("\n"u8.ToArray(), ct);
    }

    private async Task<Response> HandleAsync(ReadOnlyMemory<byte> line, CancellationToken ct)
    {
        Request? req;
        try { req = JsonSerializer.Deserialize(line.Span, ProtocolJson.Default.Request); }
        catch (JsonException ex) { return Response.Fail(0, $"malformed request: {ex.Message}"); }
        if (req is null) return Response.Fail(0, "malformed request: null");
        try { return await supervisor.SettledAsync(await DispatchAsync(req, ct), req.WaitMs, ct); }
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
                return new Response { Id = req.Id, Ok = true, Pid = Environment.ProcessId, Version = DaemonContext.Version };
            case Commands.Version:
                return new Response { Id = req.Id, Ok = true, Version = DaemonContext.Version, Pid = Environment.ProcessId };
            case Commands.Kill:
                _ = Task.Run(async () => { await Task.Yield(); lifetime.StopApplication(); }, CancellationToken.None);
                return new Response { Id = req.Id, Ok = true, Pid = Environment.ProcessId, Message = "daemon stopping" };
            case Commands.Save:
                return persistence.Save(req.Id, req.Force);
            case Commands.Resurrect:
                return await persistence.ResurrectAsync(req.Id, ct);
            case Commands.Start when req.Apps is { } apps:
                return await config.ApplyAsync(req.Id, apps, req.Daemon, req.ConfigPath, req.Prune, ct);
        }

        var (targets, error) = supervisor.Resolve(req.Names);
        if (error is not null) return Response.Fail(req.Id, error);
        switch (req.Cmd)
        {
            case Commands.Start: return await supervisor.StartAsync(req.Id, targets, ct);
            case Commands.Stop: return await supervisor.StopAsync(req.Id, targets, ct);
            case Commands.Restart: return await supervisor.RestartAsync(req.Id, targets, ct);
            case Commands.Reload when req.Apps is null && req.Reread: return await config.ReloadAsync(req.Id, targets, ct);
            case Commands.Reload: return await supervisor.ReloadAsync(req.Id, targets, req.Apps, ct);
            case Commands.Scale:
                if (req.Names is not { Count: 1 } || targets.Count != 1 || req.Count is not (>= 0 and <= 1024) )
                    return Response.Fail(req.Id, "scale takes one app name and a number of instances from 0 to 1024");
                return await supervisor.ScaleAsync(req.Id, targets[0], req.Count.Value, ct);
            case Commands.Delete: return await supervisor.DeleteAsync(req.Id, targets, ct);
            case Commands.Status: return new Response { Id = req.Id, Ok = true, Instances = supervisor.Status(targets) };
            case Commands.Describe:
                // Every app named (or all) in `apps`, so that nk logs and nk reload ask once; the only one also in `app`.
                var described = targets.Select(t => supervisor.Describe(t, req.ShowEnv)).ToList();
                return new Response { Id = req.Id, Ok = true, App = described.Count == 1 ? described[0] : null, Apps = described };
            case Commands.Why: return new Response { Id = req.Id, Ok = true, Why = targets.Select(supervisor.Why).ToList() };
            default:
                return Response.Fail(req.Id, $"unknown command \"{req.Cmd}\"");
        }
    }
}
