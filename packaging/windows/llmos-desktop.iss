; LLMOS Desktop installer for Windows (Inno Setup 6, https://jrsoftware.org/isinfo.php).
;
; packaging/build.py runs it after PyInstaller:
;   iscc /DAppVersion=0.1.0 /DVariantTag= /DBundleDir=C:\...\dist\llmos-desktop /DOutputDir=C:\...\dist llmos-desktop.iss
;
; The bundle holds the starter model (_internal\starter), so the installed app chats
; offline at once; it is used in place and goes with the uninstaller. VariantTag is empty
; for that build, and "-native", "-nostarter" or "-native-nostarter" for the others
; (llmos_desktop/build_info.py): it is in the setup file's name and the version shown.
;
; Per-user install by default: no administrator rights, the app goes to
; %LOCALAPPDATA%\Programs\LLMOS Desktop, a Start-menu entry is added, and an
; uninstaller is registered under Settings > Apps. Optional tasks: a desktop icon, and
; the folder with llmos.exe (the command line) on the user's PATH. Uninstalling leaves
; the user's models, chats and settings (%LOCALAPPDATA%\LLMOS) in place.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef VariantTag
  #define VariantTag ""
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\llmos-desktop"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
; The AppId identifies the app across versions: never change it.
AppId={{6F4B2C71-3D0E-4C55-9A8E-2B7D51E0C9A4}
AppName=LLMOS Desktop
AppVersion={#AppVersion}
AppVerName=LLMOS Desktop {#AppVersion}{#VariantTag}
AppPublisher=LLMOS Desktop developers
AppPublisherURL=https://github.com/llmos-desktop/llmos-desktop
DefaultDirName={autopf}\LLMOS Desktop
DefaultGroupName=LLMOS Desktop
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=llmos-desktop-{#AppVersion}{#VariantTag}-windows-x64-setup
SetupIconFile=..\..\resources\icons\llmos-desktop.ico
UninstallDisplayIcon={app}\llmos-desktop.exe
UninstallDisplayName=LLMOS Desktop
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the 'llmos' command line to my PATH"; GroupDescription: "Command line:"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\LLMOS Desktop"; Filename: "{app}\llmos-desktop.exe"; WorkingDir: "{app}"
Name: "{autodesktop}\LLMOS Desktop"; Filename: "{app}\llmos-desktop.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\llmos-desktop.exe"; Description: "{cm:LaunchProgram,LLMOS Desktop}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Paths: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;

procedure RemoveFromPath(Dir: string);
var
  Paths: string;
  P: Integer;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Paths) then
    exit;
  P := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';');
  if P = 0 then
    exit;
  if P > 1 then
    Delete(Paths, P - 1, Length(Dir) + 1)
  else
    Delete(Paths, 1, Length(Dir) + 1);
  RegWriteExpandStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Paths);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
