# troupe_add_proto(TARGET PROTO_FILE): a static library of the C++ classes
# protoc generates from PROTO_FILE; include its header as "<name>.pb.h".
function(troupe_add_proto target proto)
  get_filename_component(abs ${proto} ABSOLUTE)
  get_filename_component(dir ${abs} DIRECTORY)
  get_filename_component(stem ${abs} NAME_WE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_gen)
  add_custom_command(
    OUTPUT ${out}/${stem}.pb.cc ${out}/${stem}.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND protobuf::protoc --cpp_out=${out} -I ${dir} ${abs}
    DEPENDS ${abs} protobuf::protoc
    COMMENT "protoc ${stem}.proto"
    VERBATIM)
  add_library(${target} STATIC ${out}/${stem}.pb.cc)
  set_source_files_properties(${out}/${stem}.pb.cc PROPERTIES COMPILE_OPTIONS "-w")
  target_include_directories(${target} PUBLIC ${out})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
endfunction()
