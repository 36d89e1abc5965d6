using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>Apps that are not node: which interpreter counts as node, what the others get, and the keys only node has.</summary>
public class ProgramsTests
{
    [Theory]
    [InlineData("node", ProgramKind.Node)]
    [InlineData("nodejs", ProgramKind.Node)]
    [InlineData("/usr/local/bin/node", ProgramKind.Node)]
    [InlineData("/opt/node-v20/bin/node20", ProgramKind.Node)]
    [InlineData("node-20.11", ProgramKind.Node)]
    [InlineData("/srv/bin/node-wrapper.sh", ProgramKind.Node)]
    [InlineData("ts-node", ProgramKind.Interpreter)]
    [InlineData("python3", ProgramKind.Interpreter)]
    [InlineData("/usr/bin/bash", ProgramKind.Interpreter)]
    [InlineData("bun", ProgramKind.Interpreter)]
    [InlineData("nodemon", ProgramKind.Interpreter)]
    [InlineData("none", ProgramKind.Executable)]
    public void An_interpreter_is_node_by_a_name_that_starts_with_node(string interpreter, ProgramKind kind) =>
        Programs.Of(interpreter).Should().Be(kind);

    [Fact]
    public void A_python_app_gets_its_interpreter_args_an_own_port_and_none_of_nodes_defaults()
    {
        var app = LoadApp("""
            [defaults]
            node_args = ["--enable-source-maps"]
            max_old_space_size = "512M"
            ready = "message"
            health = { url = "http://127.0.0.1:8000/", max_lag = "200ms" }

            [[app]]
            name = "py"
            script = "worker.py"
            interpreter = "python3"
            interpreter_args = ["-u"]
            port = 8000
            instances = 2
            """);

        app.Program.Should().Be(ProgramKind.Interpreter);
        app.Node.Should().BeFalse();
        app.Script.Should().Be("/srv/shop/worker.py");
        app.InterpreterArgs.Should().Equal("-u");
        app.NodeArgs.Should().BeEmpty("[defaults] that only node has are not applied to other programs");
        app.MaxOldSpaceSizeMb.Should().BeNull();
        app.PortMode.Should().Be(PortMode.Increment, "only node's preload can accept on the daemon's socket");
        app.SharesPort.Should().BeFalse();
        app.Ready.Should().Be(ReadyMode.Listen, "a port is probed for readiness");
        app.Health!.MaxLag.Should().BeNull();
        app.Health.Url.Should().Be("http://127.0.0.1:8000/");
        app.HttpMetrics.Should().BeFalse();
    }

    [Fact]
    public void With_interpreter_none_the_script_is_the_program_and_a_bare_name_stays_for_PATH()
    {
        var npm = LoadApp("[[app]]\nname = \"web\"\nscript = \"npm\"\nargs = [\"start\"]\ninterpreter = \"none\"\n");
        npm.Program.Should().Be(ProgramKind.Executable);
        npm.Script.Should().Be("npm");
        npm.Ready.Should().Be(ReadyMode.Spawn);

        var local = LoadApp("[[app]]\nname = \"bin\"\nscript = \"./bin/server\"\ninterpreter = \"none\"\n");
        local.Script.Should().Be("/srv/shop/bin/server");

        var node = LoadApp(App());
        node.Program.Should().Be(ProgramKind.Node);
        node.Script.Should().Be("/srv/shop/server.js");
        node.HttpMetrics.Should().BeTrue();
        node.PortMode.Should().Be(PortMode.Shared);
    }

    [Theory]
    [InlineData("interpreter = \"python3\"\nnode_args = [\"--inspect\"]", "node_args is for node, and app \"api\" runs python3: give that interpreter's arguments in interpreter_args")]
    [InlineData("interpreter = \"none\"\nnode_args = [\"--inspect\"]", "node_args is for node, and app \"api\" runs its script as a program (interpreter = \"none\"): put its arguments in args")]
    [InlineData("interpreter = \"none\"\ninterpreter_args = [\"-u\"]", "interpreter_args has no interpreter to go to: app \"api\" runs its script as a program (interpreter = \"none\"); put its arguments in args")]
    [InlineData("interpreter_args = [\"-u\"]", "interpreter_args is for programs other than node, and app \"api\" runs node: give node's arguments in node_args")]
    [InlineData("interpreter = \"/usr/bin/python3\"\nmax_old_space_size = \"512M\"", "max_old_space_size is node's heap flag, and app \"api\" runs python3: remove it (max_memory limits any program)")]
    [InlineData("interpreter = \"bash\"\nready = \"message\"", "ready = \"message\" needs node's IPC channel (process.send), and app \"api\" runs bash: use ready = \"listen\" or \"health\" with a port, or \"spawn\"")]
    [InlineData("interpreter = \"python3\"\nport = 8000\nport_mode = \"shared\"", "port_mode = \"shared\" needs node (its preload accepts on the daemon's socket), and app \"api\" runs python3: use port_mode = \"increment\" (instance i gets PORT = port + i and listens itself)")]
    [InlineData("interpreter = \"python3\"\ncapture = { stall = \"1s\" }", "capture needs node (its preload takes the profiles and snapshots), and app \"api\" runs python3: remove it")]
    [InlineData("interpreter = \"python3\"\nhttp_metrics = true", "http_metrics needs node (its preload counts the responses), and app \"api\" runs python3: remove it")]
    [InlineData("interpreter = \"python3\"\nhealth = { url = \"http://127.0.0.1:8000/\", max_lag = \"1s\" }", "health.max_lag needs node's event loop, and app \"api\" runs python3: remove max_lag (url still checks the app)")]
    [InlineData("interpreter = \"python3\"\nport = 8000\nreload = { canary = \"30s\" }", "reload.canary needs port_mode = \"shared\" for app \"api\": in increment mode the canary would need the port of instance 0 (set canary = \"0s\" or use shared mode)")]
    public void A_key_only_node_has_is_refused_for_another_program_with_what_to_use(string body, string message)
    {
        var errors = Errors(App(body));
        errors.Should().ContainSingle().Which.Should().EndWith(message);
    }

    [Fact]
    public void Other_programs_may_turn_http_metrics_off_and_node_apps_may_name_node_by_path()
    {
        Load(App("interpreter = \"python3\"\nhttp_metrics = false")).Errors.Should().BeEmpty();
        Load(App("interpreter = \"/opt/node/bin/node\"\nnode_args = [\"--inspect\"]")).Errors.Should().BeEmpty();
    }
}
