using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>The operator's commands a PM2 user reaches for: signal (sendSignal), flush, reopen-logs (reloadLogs), reset.</summary>
public sealed partial class Supervisor
{
    /// <summary>Sends a signal to the main process of every running instance of the apps (or of instance
    /// <paramref name="instance"/> only), as `pm2 sendSignal` does; its consequences (an exit, a restart) are the app's.</summary>
    public Response SendSignal(int id, List<AppRuntime> apps, string? name, int? instance)
    {
        if (name is null || Signals.Normalize(name) is not { } signal)
            return Response.Fail(id, $"signal: {(name is null ? "no signal given" : $"\"{name}\" is not a signal")}: give a name such as SIGUSR2, SIGINT or HUP");
        if (instance is < 0) return Response.Fail(id, "signal: --instance must be 0 or more");
        var number = Signals.Number(signal)!.Value;
        var sent = new List<string>();
        foreach (var app in apps)
        {
            foreach (var i in app.Instances.Where(i => instance is null || i.Index == instance))
            {
                if (i.Process is not { } p || !p.IsAlive()) continue;
                ProcessTree.Signal([p], number);
                sent.Add($"{app.Name}:{i.Index} (pid {p.Pid})");
            }
        }
        var which = string.Join(", ", apps.Select(a => a.Name)) + (instance is { } n ? $" instance {n}" : "");
        if (sent.Count == 0) return Response.Fail(id, $"signal: {which} has no running process to send {signal} to");
        ctx.Logger.LogInformation("nk signal: {Signal} sent to {Instances}", signal, string.Join(", ", sent));
        return new Response { Id = id, Ok = true, Message = $"sent {signal} to {string.Join(", ", sent)}" };
    }

    /// <summary>Empties the apps' log files (out and err; the rotated ones stay), behind every line already read.</summary>
    public async Task<Response> FlushAsync(int id, List<AppRuntime> apps)
    {
        var files = apps.SelectMany(a => new[] { a.Out, a.Err }).ToList();
        await Task.WhenAll(files.Select(f => f.TruncateAsync()));
        if (files.Select(f => f.Problem).OfType<string>().FirstOrDefault() is { } problem)
            return Response.Fail(id, $"flush: {problem}");
        ctx.Logger.LogInformation("nk flush: emptied {Files}", string.Join(", ", files.Select(f => f.Path)));
        return new Response { Id = id, Ok = true, Message = $"flushed the logs of {string.Join(", ", apps.Select(a => a.Name))}" };
    }

    /// <summary>Closes every app's log files behind the lines already read; the next line opens each path anew (after
    /// logrotate moved the file away). `nk reopen-logs`, and SIGHUP, SIGUSR1 or SIGUSR2 to the daemon.</summary>
    public async Task<int> ReopenLogsAsync(string why)
    {
        var apps = Apps;
        await Task.WhenAll(apps.SelectMany(a => new[] { a.Out.ReopenAsync(), a.Err.ReopenAsync() }));
        ctx.Logger.LogInformation("{Why}: reopened the log files of {Count} app(s)", why, apps.Count);
        return apps.Count;
    }

    /// <summary>Sets every instance's counts of restarts and of unstable runs in a row back to 0 (`pm2 reset`); the
    /// history of exits stays for nk why.</summary>
    public async Task<Response> ResetAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        var instances = apps.SelectMany(a => a.Instances).ToList();
        foreach (var i in instances) i.Post(new CountersReset());
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(TimeSpan.FromSeconds(5));
        // Each instance takes the reset in its turn; one that restarts at once after it counts 1 again, and is not waited for past 5 s.
        try { await Task.WhenAll(instances.Select(i => i.WaitAsync(s => s.Restarts == 0, bounded.Token))); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
        return new Response { Id = id, Ok = true, Message = $"reset the restart counts of {string.Join(", ", apps.Select(a => a.Name))}" };
    }
}
