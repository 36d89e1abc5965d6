using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.Daemon.State;

/// <summary>
/// The daemon's live state file (state.json): every app, whether it is meant to run, and the pid and /proc start time
/// of each of its processes, rewritten whenever something changes. A daemon that stops gracefully removes it. A
/// daemon that finds one at start took over from one that crashed or was killed: it ends that daemon's orphans (by
/// pid and start time, never by name), starts the apps again and serves the [daemon] table it had (its HTTP endpoint).
/// </summary>
public sealed class StateKeeper(Persistence persistence, DaemonContext ctx) : IHostedService
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _dirty = new(0, 1);
    private volatile bool _unsaved;
    private Task _writer = Task.CompletedTask;

    public async Task StartAsync(CancellationToken ct)
    {
        var (state, _) = StateFile.Read(ctx.StatePath);
        if (ctx.Inherited is { } handover)
        {
            // `nk update`: the previous image of this very process handed its apps over, running.
            persistence.Adopt(handover);
        }
        else if (state is not null && (state.DaemonPid != Environment.ProcessId || ctx.TakeOverOwnPid))
        {
            ctx.Logger.LogWarning("the previous daemon (pid {Pid}) did not stop gracefully: taking over its {Count} app(s)", state.DaemonPid, state.Apps.Count);
            await Predecessor.EndRecordedAsync(state, ctx.Clock, ctx.Logger, ct);
            // The endpoint's warning, if any, is in daemon.log already.
            var (problems, _) = await persistence.RestoreAsync(state.Apps, state.Daemon, Path.GetFileName(ctx.StatePath), ct);
            foreach (var problem in problems)
                ctx.Logger.LogError("cannot bring back an app of the previous daemon: {Problem}", problem);
        }
        Write();
        ctx.Changed += MarkDirty;
        ctx.SaveState = () => { if (_unsaved) Write(); };
        _writer = Task.Run(() => WriteLoopAsync(_stop.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken ct)
    {
        ctx.Changed -= MarkDirty;
        ctx.SaveState = null;
        await _stop.CancelAsync();
        try { await _writer; } catch (OperationCanceledException) { }
        // A graceful stop: the apps were stopped on purpose, and the next daemon must not bring them back.
        try { File.Delete(ctx.StatePath); } catch (IOException) { }
    }

    private void MarkDirty()
    {
        _unsaved = true;
        if (_dirty.CurrentCount == 0)
            try { _dirty.Release(); } catch (SemaphoreFullException) { }
    }

    private async Task WriteLoopAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await _dirty.WaitAsync(ct);
                await Task.Delay(Settle, ctx.Clock, ct);
                Write();
            }
        }
        catch (OperationCanceledException) { }
    }

    private void Write()
    {
        _unsaved = false;
        try { StateFile.WriteLive(ctx.StatePath, persistence.Capture(processes: true)); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ctx.Logger.LogWarning(ex, "cannot write {Path}", ctx.StatePath);
        }
    }
}
