using System.Text.Json;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Supervision;
using NodeKeeper.Daemon.Upgrade;

namespace NodeKeeper.Cli;

/// <summary>The commands on the daemon's own version: version, update, and the new binary's side of an update.</summary>
public static partial class NkCommands
{
    private static async Task<int> VersionAsync(CancellationToken ct)
    {
        Console.Out.WriteLine($"nk {CliVersion}");
        var (client, _, _) = ControlClient.TryConnect(NkHome.Socket(Home.Current));
        if (client is null) return Ok;
        using var _c = client;
        var r = await client.SendAsync(new Request { Cmd = Commands.Version }, ct);
        if (!r.Ok) return Ok;
        Console.Out.WriteLine($"daemon {r.Version} (pid {r.Pid})");
        if (r.Version != CliVersion)
            Console.Out.WriteLine($"the daemon runs another version than this nk: run nk update to replace it with the nk-full beside this nk (the apps keep running)");
        if (r.DaemonNotice is { } notice) Console.Out.WriteLine($"note: {notice}");
        return Ok;
    }

    /// <summary>
    /// `nk update`: the daemon replaces itself with the nk-full on disk and keeps every app running. Its answer comes
    /// from the new image, on this same connection; exit 1 when the update was refused or failed (the old image then
    /// still serves), or when the new image could not adopt the apps (it restarted them).
    /// </summary>
    private static async Task<int> UpdateAsync(string? path, CancellationToken ct)
    {
        var home = Home.Current;
        var (client, _, error) = ControlClient.TryConnect(NkHome.Socket(home));
        if (client is null) return await Error($"{error}: there is no daemon to update (any nk command starts one from this nk-full)", Failed);
        using var _c = client;
        Response r;
        try { r = await client.SendAsync(new Request { Cmd = Commands.Update, Path = path is null ? null : Path.GetFullPath(path) }, ct); }
        catch (IOException)
        {
            // The new image could not read what the old one handed over: it took over as after a crash. Ask it what happened.
            return await AfterFailedAdoptionAsync(home, ct);
        }
        if (!r.Ok)
        {
            await Console.Error.WriteLineAsync($"nk: {await Unknown(client, new Request { Cmd = Commands.Update }, r, ct) ?? r.Error}");
            return Failed;
        }
        Console.Out.WriteLine($"nk: {r.Message}");
        return Ok;
    }

    private static async Task<int> AfterFailedAdoptionAsync(string home, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var (client, _, _) = ControlClient.TryConnect(NkHome.Socket(home));
            if (client is not null)
            {
                using (client)
                {
                    try
                    {
                        var v = await client.SendAsync(new Request { Cmd = Commands.Version }, ct);
                        return await Error(v.DaemonNotice ?? $"the update's answer was lost; the daemon now runs {v.Version} (pid {v.Pid}): see nk status", Failed);
                    }
                    catch (IOException) { }
                }
            }
            await Task.Delay(50, ct);
        }
        return await Error($"the daemon did not answer after the update; see {NkHome.DaemonLog(home)}", Failed);
    }

    /// <summary>
    /// `nk-full handover-check RECORD`, which a daemon runs before it execs this binary: prints this build's version and
    /// the hand-over formats it reads, and whether it reads that record; exit 0 only when it does.
    /// </summary>
    private static int HandoverCheck(string record)
    {
        var (_, error) = HandoverFile.Read(record);
        Console.Out.WriteLine(JsonSerializer.Serialize(new SelfUpdate.Probe(CliVersion, HandoverRecord.Readable, error), ProbeJson.Default.Probe));
        return error is null ? Ok : Failed;
    }
}
