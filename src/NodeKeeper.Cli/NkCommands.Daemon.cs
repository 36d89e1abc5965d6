using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>The commands on the daemon itself: ping, kill (also of a dead daemon's apps), version.</summary>
public static partial class NkCommands
{
    private static async Task<int> PingAsync(CancellationToken ct)
    {
        var home = Home.Current;
        var (client, _, error) = ControlClient.TryConnect(NkHome.Socket(home));
        if (client is null) return await Error(error!, Failed);
        using var _c = client;
        var r = await SendAsync(client, new Request { Cmd = Commands.Ping }, ct);
        if (r is null) return Failed;
        Console.Out.WriteLine($"pong: daemon pid {r.Pid}, version {r.Version}, home {home}");
        return Ok;
    }

    private static async Task<int> KillAsync(CancellationToken ct)
    {
        var home = Home.Current;
        var (client, failure, error) = ControlClient.TryConnect(NkHome.Socket(home));
        if (client is null)
        {
            if (failure == ControlClient.Failure.Denied) return await Error(error!, Failed);
            return await EndDeadDaemonsAppsAsync(home, ct);
        }
        int pid;
        using (client)
        {
            var r = await SendAsync(client, new Request { Cmd = Commands.Kill }, ct);
            if (r is null) return Failed;
            pid = r.Pid ?? 0;
        }
        await Console.Error.WriteLineAsync($"nk: stopping every app and the daemon (pid {pid})...");
        // The daemon answers before it stops; wait until it is gone, so nothing it supervised still runs.
        while (pid > 1 && Directory.Exists($"/proc/{pid}") && !IsZombie(pid)) await Task.Delay(25, ct);
        await Console.Error.WriteLineAsync("nk: daemon stopped");
        return Ok;
    }

    /// <summary>
    /// `nk kill` when no daemon answers. A daemon that died without stopping (kill -9, a crash) left state.json behind
    /// and its apps running, unsupervised: they are ended as a daemon taking over would end them (by pid and start time,
    /// and by the marks in their environment), holding the home's lock so that no daemon starts meanwhile.
    /// </summary>
    private static async Task<int> EndDeadDaemonsAppsAsync(string home, CancellationToken ct)
    {
        var statePath = NkHome.State(home);
        if (!File.Exists(statePath))
        {
            await Console.Error.WriteLineAsync($"nk: no daemon runs for {home}: nothing to stop");
            return Ok;
        }
        // The pids come from a file: only from a home that is this user's alone, and a file that is no link.
        if (HomeGuard.Refusal(home) is { } refusal) return await Error(refusal, Failed);
        if (new FileInfo(statePath).LinkTarget is not null || !Uids.OwnedBySelf(statePath))
            return await Error($"{statePath} is a link or belongs to another user: not ending anything it names", Failed);
        FileStream lockFile;
        try { lockFile = new FileStream(NkHome.Lock(home), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            return await Error($"a daemon is starting for {home}: run nk kill again once it answers", Failed);
        }
        await using (lockFile)
        {
            var (state, readError) = Daemon.State.StateFile.Read(statePath);
            if (state is null) return await Error($"no daemon runs for {home}, and its {readError}", Failed);
            var log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
            var ended = await Daemon.State.Predecessor.EndRecordedAsync(state, TimeProvider.System, log, ct)
                + await Daemon.State.Predecessor.EndUnrecordedAsync(home, state.Apps, TimeProvider.System, log, ct);
            File.Delete(statePath);
            await Console.Error.WriteLineAsync(ended == 0
                ? $"nk: no daemon runs for {home}: nothing to stop"
                : $"nk: no daemon runs for {home}; the one that did (pid {state.DaemonPid}) died without stopping its apps: ended {ended} process(es) they left");
        }
        return Ok;
    }

    private static bool IsZombie(int pid)
    {
        try { var s = File.ReadAllText($"/proc/{pid}/stat"); return s[(s.LastIndexOf(')') + 2)..].StartsWith('Z'); }
        catch (IOException) { return true; }
    }
}
