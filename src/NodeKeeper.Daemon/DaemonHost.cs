using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Daemon.Control;
using NodeKeeper.Daemon.Processes;
using NodeKeeper.Daemon.Supervision;
using Serilog;

namespace NodeKeeper.Daemon;

/// <summary>`nk daemon`: the supervisor on the Generic Host, serving the control socket of one home.</summary>
public static class DaemonHost
{
    /// <summary>Runs until SIGTERM/SIGINT or `nk kill`; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string home, bool background)
    {
        if (background) Native.DetachFromTerminal();
        Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Combine(home, "logs"));

        var serilog = new LoggerConfiguration()
            .MinimumLevel.Information()
            .WriteTo.File(Path.Combine(home, "daemon.log"), fileSizeLimitBytes: 10 * 1024 * 1024, rollOnFileSizeLimit: true,
                retainedFileCountLimit: 5, outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} [{Level:u3}] {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
        using var loggerFactory = LoggerFactory.Create(b => b.AddSerilog(serilog, dispose: true));
        var logger = loggerFactory.CreateLogger("nk");
        var ctx = new DaemonContext(home, TimeProvider.System, logger);

        // One daemon per home: the lock is held for the daemon's life and released by the kernel if it dies.
        FileStream lockFile;
        try { lockFile = new FileStream(ctx.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            var other = File.Exists(ctx.PidPath) ? File.ReadAllText(ctx.PidPath).Trim() : "?";
            await Console.Error.WriteLineAsync($"nk: a daemon (pid {other}) already runs for NODEKEEPER_HOME={home}; stop it with `nk kill` first");
            return 1;
        }
        await using var _lock = lockFile;
        await File.WriteAllTextAsync(ctx.PidPath, Environment.ProcessId + "\n");
        await File.WriteAllTextAsync(ctx.PreloadPath, Preload.Text());
        if (!Native.BecomeChildSubreaper()) logger.LogWarning("could not become a child subreaper: orphans of apps go to init");

        if (File.Exists(ctx.SocketPath)) File.Delete(ctx.SocketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(ctx.SocketPath));
        File.SetUnixFileMode(ctx.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(128);

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(serilog);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(10));
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton(ctx);
        builder.Services.AddSingleton<Supervisor>();
        builder.Services.AddSingleton(listener);
        // Stopped in reverse order: the apps stop last, after the socket and the sampler.
        builder.Services.AddHostedService<AppsShutdown>();
        builder.Services.AddHostedService<ProcessSampler>();
        builder.Services.AddHostedService<HealthMonitor>();
        builder.Services.AddHostedService<ControlServer>();

        using var host = builder.Build();
        logger.LogInformation("daemon {Version} started: pid {Pid}, home {Home}", ControlServer.DaemonVersion, Environment.ProcessId, home);
        try
        {
            await host.RunAsync();
        }
        finally
        {
            try { File.Delete(ctx.SocketPath); File.Delete(ctx.PidPath); } catch (IOException) { }
            logger.LogInformation("daemon stopped");
        }
        return 0;
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
