using System.CommandLine;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>`nk save` and `nk resurrect`: the running app list into $NODEKEEPER_HOME/dump.json, and back.</summary>
public static class SaveCommands
{
    public static Command Save()
    {
        var force = new Option<bool>("--force") { Description = "save even when no app is loaded (replaces a non-empty dump with an empty one)" };
        var cmd = new Command("save", "write the apps and their definitions to dump.json (env_file values stay in their files)") { force };
        cmd.SetAction(async (p, ct) =>
        {
            var (client, code) = await NkCommands.ConnectAsync(ct);
            if (client is null) return code;
            using var _ = client;
            var r = await NkCommands.SendAsync(client, new Request { Cmd = Commands.Save, Force = p.GetValue(force) }, ct);
            if (r is null) return NkCommands.Failed;
            await Console.Error.WriteLineAsync($"nk: {r.Message}");
            return NkCommands.Ok;
        });
        return cmd;
    }

    public static Command Resurrect()
    {
        var noWait = new Option<bool>("--no-wait") { Description = "return at once instead of waiting until the apps are ready" };
        var cmd = new Command("resurrect", "bring back the apps of dump.json, started if they were running when saved") { noWait };
        cmd.SetAction(async (p, ct) =>
        {
            var (client, code) = await NkCommands.ConnectAsync(ct);
            if (client is null) return code;
            using var _ = client;
            var r = await NkCommands.SendAsync(client, new Request { Cmd = Commands.Resurrect }.Waiting(!p.GetValue(noWait)), ct);
            if (r is null) return NkCommands.Failed;
            await Console.Error.WriteLineAsync($"nk: {r.Message}");
            return await NkCommands.ShowAsync(client, r, ct);
        });
        return cmd;
    }
}
