// The demo app: pick a photo, embed it on the device with the bundled student (LiteRT), search the
// hosted index of teacher embeddings (`distill serve`), show the hits. NOT compiled on the machine it
// was written on (no Android SDK / Google Maven there): see ../README.md.
plugins {
    id("com.android.application")
}

android {
    namespace = "org.asymdistill.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.asymdistill.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
    }

    buildTypes {
        release {
            // R8 on: Gson reads three core classes by reflection, kept in proguard-rules.pro
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
            signingConfig = signingConfigs.getByName("debug") // a demo: release builds are signed with the debug key
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    androidResources {
        // the model is memory-mapped from the APK (AssetManager.openFd), which needs it stored uncompressed
        noCompress.add("tflite")
    }
}

dependencies {
    implementation(project(":core"))
    // LiteRT = TensorFlow Lite under its new Maven name; the classes keep the org.tensorflow.lite.Interpreter
    // API. 1.4.2 rather than 1.4.0: Google's LiteRT release table lists 1.4.0 with min SDK 26 (this app's
    // minSdk is 24) and 1.4.1+ with min SDK 21. 2.x also has the Interpreter API (CPU only, min SDK 23).
    implementation("com.google.ai.edge.litert:litert:1.4.2")
    implementation("androidx.activity:activity:1.9.3")          // ComponentActivity, PickVisualMedia photo picker
    implementation("androidx.exifinterface:exifinterface:1.3.7") // EXIF orientation of the chosen photo
    implementation("androidx.recyclerview:recyclerview:1.3.2")   // results list
}

// ---- the bundled model -------------------------------------------------------------------------------
// The student is not committed: it is copied at build time from the Python side's export, as the asset
// `student.tflite`. Default: ../runs/demo/export/tflite/student_int8.tflite (written by `make demo`, or by
// `distill export tflite --quantize int8`); override with -PstudentModel=PATH (absolute, or relative to
// android_demo/), e.g. a float-I/O student_fp32.tflite.
//
// The copy goes to a generated assets folder registered through the variant API instead of into
// src/main/assets: a task writing into a source folder that the merge and lint tasks read trips Gradle 8's
// implicit-dependency validation. The APK content is the same (assets/student.tflite).
abstract class BundleStudentModel : DefaultTask() {
    @get:InputFiles // not @InputFile: a missing model must reach the message below, not a validation error
    @get:PathSensitive(PathSensitivity.NONE)
    abstract val model: ConfigurableFileCollection

    @get:Input
    abstract val modelPath: Property<String>

    @get:OutputDirectory
    abstract val outputDir: DirectoryProperty

    @TaskAction
    fun copy() {
        val src = File(modelPath.get())
        if (!src.isFile) {
            throw GradleException(
                "The student model $src is missing. From the repository root run `make demo` (or " +
                    "`distill export tflite --quantize int8 ...`) so runs/demo/export/tflite/student_int8.tflite " +
                    "exists, or build with -PstudentModel=/path/to/student.tflite."
            )
        }
        val out = outputDir.get().asFile
        out.deleteRecursively()
        out.mkdirs()
        src.copyTo(File(out, "student.tflite"), overwrite = true)
    }
}

val studentModel: File = rootProject.file(
    providers.gradleProperty("studentModel").getOrElse("../runs/demo/export/tflite/student_int8.tflite")
)

val bundleStudentModel = tasks.register<BundleStudentModel>("bundleStudentModel") {
    model.from(studentModel)
    modelPath.set(studentModel.absolutePath)
    outputDir.set(layout.buildDirectory.dir("generated/studentModel/assets"))
}

androidComponents {
    onVariants { variant ->
        variant.sources.assets?.addGeneratedSourceDirectory(bundleStudentModel, BundleStudentModel::outputDir)
    }
}
