using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CliWrap;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.State;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.Daemon.Upgrade;

/// <summary>
/// `nk update`: the daemon replaces its own image with the nk-full on disk (execve: same pid, so the apps stay its
/// children) and every app runs on untouched. The new binary is asked first whether it runs and reads this hand-over
/// format; then every instance's loop is frozen, every reader of an app's pipes parks where all it read is in the log
/// files, the control connections are handed on, and the record goes to NODEKEEPER_HOME/handover.json. Anything that
/// fails before the exec leaves this image serving as before.
/// </summary>
public sealed class SelfUpdate(Supervisor supervisor, Persistence persistence, Http.HttpEndpoint http, DaemonContext ctx)
{
    /// <summary>How long instances that are stopping may take to end before the update gives up (it never cuts a stop short).</summary>
    private static readonly TimeSpan StoppingDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ParkDeadline = TimeSpan.FromSeconds(5);

    /// <summary>What the new binary says of itself: its version and the hand-over formats it reads.</summary>
    public sealed record Probe(string Version, IReadOnlyList<int> Formats, string? Error);

    public async Task<Response> RunAsync(Request req, Socket requester, IHandOverConnections control, CancellationToken ct)
    {
        if (ctx.Foreground)
            return Response.Fail(req.Id, "nk update does not run under nk run: there the container image is what is upgraded (build a new one and restart the container)");
        var target = string.IsNullOrEmpty(req.Path) ? ctx.StartedFrom : Path.GetFullPath(req.Path);
        var keeps = $"daemon {DaemonContext.Version} (pid {Environment.ProcessId}) keeps running every app";
        // Checked with the apps as they are now (without fds): the new binary must read every definition of them.
        var (probe, why) = await ProbeAsync(target, Record(0, null, [], []), ct);
        if (probe is null) return Response.Fail(req.Id, $"update refused: {target} {why}; the {keeps}");
        ctx.Logger.LogInformation("nk update: {Target} is version {Version}; handing the daemon over", target, probe.Version);
        return await supervisor.HandOverAsync(() => HandOverAsync(req, target, requester, control, keeps, ct), ct);
    }

    private async Task<Response> HandOverAsync(Request req, string target, Socket requester, IHandOverConnections control, string keeps, CancellationToken ct)
    {
        var thaw = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var frozen = await FreezeAsync(thaw, ct);
        if (frozen.Error is not null) return Response.Fail(req.Id, $"update refused: {frozen.Error}; the {keeps}");
        var connections = await control.HandOverAsync(requester, ParkDeadline);
        var dups = new List<int>();
        var queued = new Dictionary<InstanceRunner, List<HandedEvent>>();
        var paused = false;
        string? failure;
        try
        {
            // Each run's readers park with everything read handed to the log files, then the files are flushed.
            var parking = frozen.Instances.Where(f => f.Frozen.Process is not null)
                .Select(f => (f.Runner, Parked: Park(f.Frozen.Process!.Slots))).ToList();
            ReaderPause.Begin();
            paused = true;
            var parked = new Dictionary<InstanceRunner, HandedProcess>();
            foreach (var (runner, slots) in parking)
            {
                var all = await Task.WhenAll(slots).WaitAsync(ParkDeadline, ct);
                dups.AddRange(all.Where(p => p is not null).Select(p => p!.Fd));
                var process = frozen.Instances.First(f => f.Runner == runner).Frozen.Process!;
                parked[runner] = process.Hand(all[0], all[1], all[2]);
            }
            await Task.WhenAll(supervisor.Apps.SelectMany(a => new[] { a.Out.FlushAsync(), a.Err.FlushAsync() })).WaitAsync(ParkDeadline, ct);
            foreach (var f in frozen.Instances) queued[f.Runner] = f.Runner.TakeQueued();

            var apps = supervisor.Apps.Select(a =>
            {
                int? listener = a.ListenerFd is { } fd ? Dup(fd, dups) : null;
                var instances = frozen.Instances.Where(f => f.App == a).Select(f => new HandedInstance(f.Runner.Index, f.Frozen.State,
                    f.Frozen.Timers, f.Frozen.History, f.Frozen.StderrTail, parked.GetValueOrDefault(f.Runner), queued[f.Runner])).ToList();
                return new HandedApp(a.Spec, a.ConfigPath, a.Wanted, a.WatchProblem, listener, instances);
            }).ToList();
            var requesterFd = Dup((int)requester.SafeHandle.DangerousGetHandle(), dups);
            var record = Record(req.Id, new HandedConnection(requesterFd, []), connections, apps) with
            {
                LockFd = Dup(ctx.LockFd, dups),
                ControlFd = Dup(ctx.ControlFd, dups),
                HttpFd = await http.HandOverAsync(ParkDeadline) is { } httpFd ? Keep(httpFd, dups) : null,
            };
            HandoverFile.Write(NkHome.Handover(ctx.Home), record);
            // Should the new image fail to adopt, it takes over from this state file, as after a crash: exact pids.
            failure = StateFile.WriteLiveThen(ctx.StatePath, persistence.Capture(processes: true), () =>
            {
                ctx.Logger.LogInformation("nk update: exec {Target} with {Apps} app(s), {Instances} running instance(s), {Connections} control connection(s)",
                    target, apps.Count, parked.Count, connections.Count);
                SystemdNotify.Reloading();
                return Exec(target, record.Fds().ToList());
            });
            ctx.Logger.LogError("nk update: exec {Target} failed: {Error}; this image goes on", target, failure);
        }
        catch (Exception ex)
        {
            // Whatever went wrong (a reader that did not park, a full disk, the daemon stopping), the apps must not stay
            // paused: everything below runs.
            failure = ex.Message;
            ctx.Logger.LogError(ex, "nk update: handing over failed; this image goes on");
        }
        // Given up: everything goes on as before.
        foreach (var fd in dups) Native.CloseFd(fd);
        try { File.Delete(NkHome.Handover(ctx.Home)); } catch (IOException) { }
        if (paused) ReaderPause.Release();
        foreach (var (runner, events) in queued) foreach (var e in events) runner.Post(e.Event());
        thaw.TrySetResult();
        control.Resume(connections, ct);
        http.Resume();
        SystemdNotify.Send("READY=1\nSTATUS=nk update failed: the daemon serves on as it was");
        return Response.Fail(req.Id, $"update failed: {failure}; the {keeps}");
    }

    private sealed record FrozenOne(AppRuntime App, InstanceRunner Runner, InstanceRunner.FrozenInstance Frozen);
    private sealed record Freezing(List<FrozenOne> Instances, string? Error);

    /// <summary>
    /// Freezes every instance's loop once none is stopping (a stop in progress has a drain and a signal to finish, which
    /// are this image's to see through); gives up after <see cref="StoppingDeadline"/>.
    /// </summary>
    private async Task<Freezing> FreezeAsync(TaskCompletionSource thaw, CancellationToken ct)
    {
        var deadline = ctx.Clock.GetUtcNow() + StoppingDeadline;
        while (true)
        {
            var all = supervisor.Apps.SelectMany(a => a.Instances.Select(i => (App: a, Runner: i))).ToList();
            var states = await Task.WhenAll(all.Select(x => x.Runner.FreezeAsync(thaw.Task)));
            var frozen = all.Zip(states, (x, s) => new FrozenOne(x.App, x.Runner, s)).ToList();
            var stopping = frozen.FirstOrDefault(f => f.Frozen.State.Status == InstanceStatus.Stopping);
            if (stopping is null) return new Freezing(frozen, null);
            thaw.TrySetResult();
            if (ctx.Clock.GetUtcNow() > deadline)
                return new Freezing([], $"{stopping.App.Name}:{stopping.Runner.Index} is still stopping after {StoppingDeadline.TotalSeconds:0} s: run nk update again once it has stopped");
            await Task.Delay(TimeSpan.FromMilliseconds(50), ctx.Clock, ct);
            thaw = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    private static Task<ParkedReader?>[] Park(ReaderSlots slots) => [slots.Out.Arm(), slots.Err.Arm(), slots.Ipc.Arm()];

    private static int Keep(int dup, List<int> dups)
    {
        dups.Add(dup);
        return dup;
    }

    private static int Dup(int fd, List<int> dups)
    {
        var copy = Native.DupCloseOnExec(fd);
        dups.Add(copy);
        return copy;
    }

    private HandoverRecord Record(int requestId, HandedConnection? requester, IReadOnlyList<HandedConnection> connections, IReadOnlyList<HandedApp> apps) => new()
    {
        Format = HandoverRecord.CurrentFormat,
        FromVersion = DaemonContext.Version,
        WrittenAt = ctx.Clock.GetUtcNow(),
        DaemonPid = Environment.ProcessId,
        Background = ctx.Background,
        RequestId = requestId,
        Requester = requester,
        Connections = connections,
        Daemon = ctx.Daemon,
        Apps = apps.Count > 0 ? apps : supervisor.Apps.Select(a => new HandedApp(a.Spec, a.ConfigPath, a.Wanted, a.WatchProblem, null, [])).ToList(),
    };

    /// <summary>
    /// Runs `TARGET handover-check RECORD`: the binary must start, say its version and read the record (a dry one, with
    /// the apps but no fds) in its own format. Returns what it said, or why it cannot take over.
    /// </summary>
    private async Task<(Probe? Probe, string? Why)> ProbeAsync(string target, HandoverRecord dryRun, CancellationToken ct)
    {
        if (!File.Exists(target)) return (null, "does not exist");
        if (Untrusted(target) is { } untrusted) return (null, untrusted);
        var path = NkHome.Handover(ctx.Home) + ".check";
        try
        {
            HandoverFile.Write(path, dryRun);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            var command = Cli.Wrap(target).WithArguments(["handover-check", path]).WithValidation(CommandResultValidation.None)
                .WithStandardOutputPipe(PipeTarget.ToStringBuilder(stdout)).WithStandardErrorPipe(PipeTarget.ToStringBuilder(stderr));
            // Registered as .NET's own child before any SIGCHLD handler may see it: the daemon's reaper leaves it to .NET.
            CommandTask<CommandResult> running;
            lock (OrphanReaper.SpawnLock) running = command.ExecuteAsync(null, p => OrphanReaper.RegisterDotNetChild(p.Id), timeout.Token);
            CommandResult result;
            try { result = await running; }
            finally { OrphanReaper.ForgetDotNetChild(running.ProcessId); }
            Probe? probe = null;
            try { probe = JsonSerializer.Deserialize(stdout.ToString(), ProbeJson.Default.Probe); }
            catch (JsonException) { }
            if (result.ExitCode != 0 || probe is null)
            {
                var said = (probe?.Error ?? stderr.ToString().Split('\n').FirstOrDefault(l => l.Trim().Length > 0) ?? "").Trim();
                return (null, $"cannot take over: `{Path.GetFileName(target)} handover-check` exited with code {result.ExitCode}{(said.Length > 0 ? $" ({said})" : "")}");
            }
            if (!probe.Formats.Contains(HandoverRecord.CurrentFormat))
                return (null, $"(version {probe.Version}) reads hand-over formats {string.Join(", ", probe.Formats)}, and this daemon writes format {HandoverRecord.CurrentFormat}");
            return (probe, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return (null, "did not answer `handover-check` within 30 s"); }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or UnauthorizedAccessException or CliWrap.Exceptions.CliWrapException)
        {
            return (null, $"cannot be run: {ex.Message}");
        }
        finally { try { File.Delete(path); } catch (IOException) { } }
    }

    /// <summary>
    /// The daemon runs the binary as its own user (root, for a system unit) with every app's pipes and sockets: it and
    /// its folder must belong to root or to that user, and nobody else may write them, or another user could swap in
    /// a program of their own between a package upgrade and `nk update`. Null when it may be run.
    /// </summary>
    private static string? Untrusted(string target)
    {
        var self = Uids.Effective();
        var real = new FileInfo(target).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? target;
        foreach (var path in new[] { real, Path.GetDirectoryName(real)! })
        {
            var owner = Uids.Owner(path);
            if (owner is not { } uid || (uid != 0 && uid != self))
                return $"belongs to uid {owner?.ToString() ?? "?"}{(path == real ? "" : $" (its folder {path})")}: the daemon (uid {self}) runs only a binary of root's or its own";
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                return $"{(path == real ? "" : $"is in {path}, which ")}can be changed by others (mode {Convert.ToString((int)mode, 8)}): the daemon runs only a binary nobody else can change";
        }
        return null;
    }

    /// <summary>
    /// Clears close-on-exec on the fds the record hands on, and execs the new image. Under the spawn lock: no child
    /// launched meanwhile may inherit them. Returns only when the exec failed (the fds are close-on-exec again).
    /// </summary>
    private string Exec(string target, List<int> fds)
    {
        var argv = new List<string> { target, "daemon", "--adopt", NkHome.Handover(ctx.Home) };
        if (ctx.Background) argv.Add("--background");
        var env = new Dictionary<string, string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables()) env[(string)e.Key] = (string?)e.Value ?? "";
        lock (OrphanReaper.SpawnLock)
        {
            foreach (var fd in fds) Native.SetInheritable(fd, true);
            var error = Native.Exec(target, argv, env);
            foreach (var fd in fds) Native.SetInheritable(fd, false);
            return error;
        }
    }
}

/// <summary>The control server's side of `nk update`: its connections handed over, or served again when the update is given up.</summary>
public interface IHandOverConnections
{
    Task<List<HandedConnection>> HandOverAsync(Socket requester, TimeSpan deadline);
    void Resume(IReadOnlyList<HandedConnection> handed, CancellationToken ct);
}

/// <summary>How `handover-check` prints its <see cref="SelfUpdate.Probe"/>, and how the daemon reads it.</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(SelfUpdate.Probe))]
public sealed partial class ProbeJson : System.Text.Json.Serialization.JsonSerializerContext;
