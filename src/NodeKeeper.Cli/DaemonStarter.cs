using System.Diagnostics;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>Connects to the daemon of a home, starting one in the background when none answers (as pm2 does).</summary>
public static class DaemonStarter
{
    public static async Task<(ControlClient? Client, string? Error)> ConnectOrStartAsync(string home, CancellationToken ct)
    {
        var socket = NkHome.Socket(home);
        var (client, failure, error) = ControlClient.TryConnect(socket);
        if (client is not null) return (client, null);
        if (failure != ControlClient.Failure.NoDaemon) return (null, error);

        var pid = StartDaemon(home);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            (client, failure, error) = ControlClient.TryConnect(socket);
            if (client is not null)
            {
                try
                {
                    var pong = await client.SendAsync(new Request { Cmd = Commands.Ping }, ct);
                    if (pong.Ok)
                    {
                        await Console.Error.WriteLineAsync($"nk: no daemon was running; started one (pid {pong.Pid}, home {home})");
                        return (client, null);
                    }
                }
                catch (IOException) { }
                client.Dispose();
            }
            if (failure == ControlClient.Failure.Denied) return (null, error);
            if (HasExited(pid)) break;
            await Task.Delay(25, ct);
        }
        return (null, $"the daemon did not start; see {NkHome.DaemonLog(home)}");
    }

    private static Process StartDaemon(string home)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell where nk is");
        var psi = new ProcessStartInfo(self)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Run through `dotnet nk-full.dll` when nk-full itself was started that way.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(DaemonStarter).Assembly.GetName().Name + ".dll"));
        psi.ArgumentList.Add("daemon");
        psi.ArgumentList.Add("--background");
        psi.Environment["NODEKEEPER_HOME"] = home;
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the daemon");
        // The daemon points its stdio at /dev/null at once; close ours so nothing waits on these pipes.
        p.StandardInput.Close();
        p.StandardOutput.Close();
        p.StandardError.Close();
        return p;
    }

    private static bool HasExited(Process p)
    {
        try { return p.HasExited; }
        catch (InvalidOperationException) { return true; }
    }
}
