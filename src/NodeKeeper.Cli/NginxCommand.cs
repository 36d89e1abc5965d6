using System.CommandLine;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Nginx;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>`nk nginx NAME`: prints an nginx map, upstream and server block for the app's port(s).</summary>
public static class NginxCommand
{
    public static Command Build()
    {
        var name = new Argument<string>("name") { Description = "the app" };
        var serverName = new Option<string>("--server-name")
        {
            Description = "server_name of the server block, e.g. \"example.com www.example.com\" (_ stands for any host)",
            DefaultValueFactory = _ => "_",
        };
        var listen = new Option<string>("--listen")
        {
            Description = "what nginx listens on: a port or address:port",
            DefaultValueFactory = _ => "80",
        };
        var cmd = new Command("nginx", "print an nginx upstream and server block (to include inside http {}) for the app's port(s)") { name, serverName, listen };
        cmd.SetAction((p, ct) => RunAsync(p.GetValue(name)!, p.GetValue(serverName)!, p.GetValue(listen)!, ct));
        return cmd;
    }

    private static async Task<int> RunAsync(string name, string serverName, string listen, CancellationToken ct)
    {
        var options = new NginxOptions { ServerName = serverName, Listen = listen };
        if (NginxConfig.CheckOptions(options) is { } usage)
        {
            await Console.Error.WriteLineAsync($"nk: {usage}");
            return NkCommands.Usage;
        }
        var (client, code) = await NkCommands.ConnectAsync(ct);
        if (client is null) return code;
        AppDescription app;
        using (client)
        {
            var r = await NkCommands.SendAsync(client, new Request { Cmd = Commands.Describe, Names = [name] }, ct);
            if (r?.App is not { } a) return NkCommands.Failed;
            app = a;
        }
        if (NginxConfig.Check(app, options) is { } error)
        {
            await Console.Error.WriteLineAsync($"nk: {error}");
            return NkCommands.Failed;
        }
        options = options with { AppHost = app.PortMode == PortMode.Shared.Word() ? app.Host : null };
        Console.Out.Write(NginxConfig.Generate(app, options));
        return NkCommands.Ok;
    }
}
