{
  description = "machine: one disposable, agent-ready Lima VM per software project";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";

  outputs = { self, nixpkgs }:
    let
      # Kept equal to Cargo.toml's version by tests/it/packaging.rs.
      version = "0.1.0";
      systems = [ "aarch64-darwin" "x86_64-darwin" "aarch64-linux" "x86_64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs:
        let
          lib = pkgs.lib;
          machine = pkgs.rustPlatform.buildRustPackage {
            pname = "machine";
            inherit version;
            src = lib.cleanSource ./.;
            cargoLock.lockFile = ./Cargo.lock;

            nativeBuildInputs = [ pkgs.makeWrapper pkgs.installShellFiles ];

            # The suite drives fake limactl/ssh/git binaries and shellcheck; CI runs it
            # (.ci/run). The install check below runs the built binary instead.
            doCheck = false;

            postInstall = ''
              installShellCompletion --cmd machine \
                --bash completions/machine.bash \
                --zsh completions/_machine \
                --fish completions/machine.fish
              # Lima (limactl) on PATH, whatever the user's profile holds.
              wrapProgram $out/bin/machine --prefix PATH : ${lib.makeBinPath [ pkgs.lima ]}
            '';

            doInstallCheck = true;
            installCheckPhase = ''
              runHook preInstallCheck
              $out/bin/machine --version | grep -F ${version}
              HOME=$TMPDIR MACHINE_STATE_DIR=$TMPDIR/state GIT_NAME=nix GIT_EMAIL=nix@example.com \
                $out/bin/machine render --json > /dev/null
              runHook postInstallCheck
            '';

            meta = {
              description = "One disposable, agent-ready Lima VM per software project";
              homepage = "https://github.com/machine-dev/machine";
              license = lib.licenses.mit;
              mainProgram = "machine";
              platforms = systems;
            };
          };
        in
        {
          inherit machine;
          default = machine;
        });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.machine}/bin/machine";
        };
      });
    };
}
