using System.Runtime.InteropServices;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Apply;
using NodeKeeper.Daemon.Control;
using NodeKeeper.Daemon.Logs;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.State;
using NodeKeeper.Daemon.Supervision;
using NodeKeeper.Daemon.Upgrade;
using Serilog;

namespace NodeKeeper.Daemon;

/// <summary>`nk daemon`: the supervisor on the Generic Host, serving the control socket of one home.</summary>
public static class DaemonHost
{
    /// <summary>`nk run`: the config the foreground daemon loads at once (and exits with when every app is down).</summary>
    public sealed record RunOptions(IReadOnlyList<AppSpec> Apps, string ConfigPath, DaemonSpec Daemon)
    {
        /// <summary>0, or 1 when the daemon ended because every app had failed.</summary>
        public int ExitCode { get; set; }
    }

    /// <summary>Runs until SIGTERM/SIGINT or `nk kill` (or, with run options, until every app is down); returns the exit code.</summary>
    /// <param name="adopt">`nk update`: the hand-over record of the image this one replaced (same pid), whose apps it takes on.</param>
    public static async Task<int> RunAsync(string home, bool background, RunOptions? run = null, string? adopt = null)
    {
        HandoverRecord? handover = null;
        string? adoptError = null;
        if (adopt is not null)
        {
            (handover, adoptError) = HandoverFile.Read(adopt);
            try { File.Delete(adopt); } catch (IOException) { }
            if (handover?.Fds().FirstOrDefault(fd => !Native.IsOpenFd(fd), -1) is >= 0 and var missing)
                (handover, adoptError) = (null, $"fd {missing} named by the hand-over record is not open");
        }
        // Before anything can be spawned: only fds 0-2 and those the daemon passes on purpose reach an app (and, after
        // `nk update`, those the previous image handed on).
        var inherited = Native.CloseInheritedFds(handover?.Fds().ToHashSet());
        foreach (var fd in handover?.Fds() ?? []) Native.SetInheritable(fd, false);
        if (background) Native.DetachFromTerminal();
        // The home is this user's alone: a link or another user's directory is refused; one of the user's own that
        // exists with looser modes is made 0700 (logs/ writable by nobody else), and daemon.log says so below.
        var (homeRefusal, homeChanges) = HomeGuard.Prepare(home);
        if (homeRefusal is not null)
        {
            await Console.Error.WriteLineAsync($"nk: {homeRefusal}");
            return 1;
        }

        var serilog = new LoggerConfiguration()
            .MinimumLevel.Information()
            .WriteTo.File(NkHome.DaemonLog(home), fileSizeLimitBytes: 10 * 1024 * 1024, rollOnFileSizeLimit: true,
                retainedFileCountLimit: 5, outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} [{Level:u3}] {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
        using var loggerFactory = LoggerFactory.Create(b => b.AddSerilog(serilog, dispose: true));
        var logger = loggerFactory.CreateLogger("nk");
        // A background daemon's stderr is /dev/null: what ends it must be in daemon.log, or nobody can tell why it died.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            logger.LogCritical(e.ExceptionObject as Exception, "unhandled exception: the daemon ends");
            serilog.Dispose();
        };
        // A failed task nobody awaited (a fire-and-forget connection, probe or watcher) is a bug too: said, not lost.
        TaskScheduler.UnobservedTaskException += (_, e) => logger.LogError(e.Exception, "a background task failed unobserved");
        foreach (var change in homeChanges) logger.LogWarning("{Change}", change);
        if (inherited.Count > 0)
            logger.LogInformation("Closed {Count} file descriptors inherited from the process that started the daemon (fds {Fds}): no app gets them", inherited.Count, string.Join(", ", inherited));
        await using var mirror = run is null ? null : new ConsoleMirror();
        string? notice = null;
        if (adoptError is not null)
        {
            notice = $"nk update at {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss}Z: the new daemon {DaemonContext.Version} could not adopt the running apps ({adoptError}); it ended them and started them again, as after a crash";
            logger.LogCritical("{Notice}", notice);
        }
        else if (handover is not null)
            logger.LogInformation("nk update: daemon {From} replaced by {Version} (pid {Pid}): adopting {Apps} app(s)", handover.FromVersion, DaemonContext.Version, Environment.ProcessId, handover.Apps.Count);
        var ctx = new DaemonContext(home, TimeProvider.System, logger)
        {
            Mirror = mirror, Background = background, Foreground = run is not null, Inherited = handover, Notice = notice,
            TakeOverOwnPid = adoptError is not null,
        };

        // One daemon per home: the lock is held for the daemon's life and released by the kernel if it dies. After
        // `nk update` it is the one the previous image held (same open file), never let go in between.
        FileStream lockFile;
        try
        {
            lockFile = handover is not null
                ? new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(handover.LockFd, ownsHandle: true), FileAccess.ReadWrite)
                : new FileStream(ctx.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            if (handover is not null) Native.SetInheritable(handover.LockFd, false);
        }
        catch (IOException)
        {
            var other = File.Exists(ctx.PidPath) ? File.ReadAllText(ctx.PidPath).Trim() : "?";
            await Console.Error.WriteLineAsync($"nk: a daemon (pid {other}) already runs for NODEKEEPER_HOME={home}; stop it with `nk kill` first");
            return 1;
        }
        ctx.LockFd = (int)lockFile.SafeFileHandle.DangerousGetHandle();
        await using var _lock = lockFile;
        await File.WriteAllTextAsync(ctx.PidPath, Environment.ProcessId + "\n");
        await File.WriteAllTextAsync(ctx.PreloadPath, Preload.Text());
        ctx.RemovePublicPreload(); // a predecessor's that died without removing it
        if (!Native.BecomeChildSubreaper()) logger.LogWarning("could not become a child subreaper: orphans of apps go to init");

        using var listener = handover is not null ? Listeners.InheritedSocket.Adopt(handover.ControlFd) : BindControlSocket(ctx);
        ctx.ControlFd = (int)listener.SafeHandle.DangerousGetHandle();

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(serilog);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(10));
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        // Under systemd (the unit of `nk startup` has Type=notify): READY=1 once every hosted service has started,
        // which is after a crashed predecessor's apps were taken over and the control socket answers. A no-op elsewhere.
        builder.Services.AddSystemd();
        builder.Services.AddSingleton(ctx);
        builder.Services.AddSingleton<Supervisor>();
        builder.Services.AddSingleton<ConfigApply>();
        builder.Services.AddSingleton<Persistence>();
        builder.Services.AddSingleton<SelfUpdate>();
        builder.Services.AddSingleton(listener);
        // Started in this order, stopped in reverse: the state file is read (a crashed predecessor's apps come back)
        // before the socket answers, and removed after every app has stopped.
        builder.Services.AddSingleton<StateKeeper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StateKeeper>());
        // Orphans are reaped on SIGCHLD once the apps are taken on: after `nk update`, a SIGCHLD heard before the handed
        // pids are known would reap an adopted app as an orphan, and its exit status would be lost.
        builder.Services.AddHostedService<OrphanReaping>();
        // The apps stop last, after the socket and the sampler.
        builder.Services.AddHostedService<AppsShutdown>();
        builder.Services.AddHostedService<ProcessSampler>();
        builder.Services.AddHostedService<HealthMonitor>();
        builder.Services.AddHostedService<FileWatchService>();
        builder.Services.AddHostedService<CronRestartService>();
        builder.Services.AddSingleton<Http.HttpEndpoint>().AddHostedService(sp => sp.GetRequiredService<Http.HttpEndpoint>());
        builder.Services.AddHostedService<ControlServer>();
        if (run is not null)
        {
            builder.Services.AddSingleton(run);
            builder.Services.AddHostedService<Foreground>();
        }
        else builder.Services.AddHostedService<ReopenOnSignal>();

        using var host = builder.Build();
        logger.LogInformation("daemon {Version} started: pid {Pid}, home {Home}", DaemonContext.Version, Environment.ProcessId, home);
        try
        {
            await host.RunAsync();
        }
        finally
        {
            try { File.Delete(ctx.SocketPath); File.Delete(ctx.PidPath); ctx.RemovePublicPreload(); } catch (IOException) { }
            logger.LogInformation("daemon stopped");
        }
        if (run is not null && mirror is { DroppedChunks: > 0 } m)
            logger.LogWarning("{Count} chunks of app output were not copied to the console (it did not keep up); the log files have them", m.DroppedChunks);
        return run?.ExitCode ?? 0;
    }

    /// <summary>The control socket, bound afresh: whatever is at its path is stale (this daemon holds the home's lock).</summary>
    private static Socket BindControlSocket(DaemonContext ctx)
    {
        // A dead daemon's socket, or a file.
        if (File.Exists(ctx.SocketPath) || new FileInfo(ctx.SocketPath).LinkTarget is not null)
        {
            File.Delete(ctx.SocketPath);
            ctx.Logger.LogInformation("removed a stale {Socket}", ctx.SocketPath);
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(ctx.SocketPath));
        File.SetUnixFileMode(ctx.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(128);
        return listener;
    }

    /// <summary>
    /// `nk run`: loads the config once the daemon serves, and ends the daemon (gracefully, as SIGTERM would) when every
    /// app is down: all stopped (exit 0) or one of them errored (exit 1).
    /// </summary>
    private sealed class Foreground(Supervisor supervisor, ConfigApply config, DaemonContext ctx, RunOptions run, IHostApplicationLifetime lifetime)
        : BackgroundService
    {
        /// <summary>Signals a container runtime may send that mean something to the apps, not to NodeKeeper: passed on.</summary>
        private static readonly (PosixSignal Signal, int Number)[] Forwarded =
            [(PosixSignal.SIGHUP, 1), ((PosixSignal)10, 10), ((PosixSignal)12, 12)];

        protected override async Task ExecuteAsync(CancellationToken ct)
        {
            // SIGTERM and SIGINT stop everything gracefully (each app gets its kill_signal); SIGHUP, SIGUSR1 and SIGUSR2
            // go to every running instance, as an init such as tini passes signals on.
            var registrations = Forwarded.Select(f => PosixSignalRegistration.Create(f.Signal, c =>
            {
                c.Cancel = true;
                foreach (var i in supervisor.Apps.SelectMany(a => a.Instances))
                    if (i.Process is { } p && p.IsAlive()) Native.SignalProcess(p.Pid, f.Number);
                ctx.Logger.LogInformation("nk run: passed signal {Signal} on to every instance", f.Number);
            })).ToList();
            using var _ = new Disposables(registrations);
            var applied = await config.ApplyAsync(0, run.Apps, run.Daemon, run.ConfigPath, prune: false, ct);
            if (!applied.Ok) ctx.Logger.LogError("nk run: {Error}", applied.Error);
            var changed = new SemaphoreSlim(0);
            void OnChanged() { if (changed.CurrentCount == 0) changed.Release(); }
            ctx.Changed += OnChanged;
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    var instances = supervisor.Apps.SelectMany(a => a.Instances).ToList();
                    if (instances.Count > 0 && instances.All(i => Core.Supervision.Settle.IsDown(i.State)))
                    {
                        run.ExitCode = instances.Any(i => i.State.Status == Core.Supervision.InstanceStatus.Errored) ? 1 : 0;
                        ctx.Logger.LogInformation("nk run: every app is down: exiting with {Code}", run.ExitCode);
                        lifetime.StopApplication();
                        return;
                    }
                    await changed.WaitAsync(ct);
                }
            }
            catch (OperationCanceledException) { }
            finally { ctx.Changed -= OnChanged; }
        }
    }

    /// <summary>
    /// SIGHUP, SIGUSR1 and SIGUSR2 would end the daemon at once (the default action of the first two), leaving its apps
    /// unsupervised with nobody reading their pipes; a closed terminal sends SIGHUP, and logrotate's postrotate scripts
    /// send it to daemons. Each of them means: reopen every app's log files (as `pm2 reloadLogs`), so that lines go to
    /// a file logrotate has just moved away no longer. `nk run` passes them on to the apps instead.
    /// </summary>
    private sealed class ReopenOnSignal(Supervisor supervisor) : IHostedService
    {
        private static readonly (PosixSignal Signal, string Name)[] Handled =
            [(PosixSignal.SIGHUP, "SIGHUP"), ((PosixSignal)10, "SIGUSR1"), ((PosixSignal)12, "SIGUSR2")];
        private List<PosixSignalRegistration> _registrations = [];

        public Task StartAsync(CancellationToken ct)
        {
            _registrations = Handled.Select(h => PosixSignalRegistration.Create(h.Signal, c =>
            {
                c.Cancel = true;
                _ = ReopenAsync(h.Name);
            })).ToList();
            return Task.CompletedTask;
        }

        private Task ReopenAsync(string signal) => supervisor.ReopenLogsAsync(signal);

        public Task StopAsync(CancellationToken ct)
        {
            foreach (var r in _registrations) r.Dispose();
            return Task.CompletedTask;
        }
    }

    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose() { foreach (var i in items) i.Dispose(); }
    }

    /// <summary>Reaps orphans on SIGCHLD from its start until the host is disposed (after every app has stopped).</summary>
    private sealed class OrphanReaping : IHostedService, IDisposable
    {
        private IDisposable? _registration;

        public Task StartAsync(CancellationToken ct)
        {
            _registration = OrphanReaper.ReapOnSigchld();
            // Those that ended before (during the exec, or while the apps were taken on) were heard by no handler.
            OrphanReaper.ReapAll();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

        public void Dispose() => _registration?.Dispose();
    }

    /// <summary>Stops every app gracefully when the host stops (SIGTERM, SIGINT, nk kill).</summary>
    private sealed class AppsShutdown(Supervisor supervisor, DaemonContext ctx) : IHostedService
    {
        public Task StartAsync(CancellationToken ct) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken ct)
        {
            ctx.Logger.LogInformation("stopping every app");
            await supervisor.StopAllAsync(ct);
        }
    }
}
